// The dashboard's page: fetches /api/summary (this server asks Cube and Dagster) and draws it.
"use strict";

const REFRESH_MS = 5000;
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "num";
  return td;
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }));
}

function byDay(days) {
  const totals = new Map();
  for (const row of days) totals.set(row.day, (totals.get(row.day) || 0) + row.revenue);
  return [...totals.entries()];
}

function drawChart(svg, days) {
  const points = byDay(days).slice(-14);
  const max = Math.max(1, ...points.map(([, revenue]) => revenue));
  const width = Math.min(120, 800 / Math.max(1, points.length));
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren(...points.flatMap(([day, revenue], i) => {
    const height = Math.round((revenue / max) * 170);
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", i * width + 4);
    bar.setAttribute("y", 190 - height);
    bar.setAttribute("width", Math.max(2, width - 8));
    bar.setAttribute("height", height);
    bar.dataset.day = day;
    bar.dataset.revenue = revenue.toFixed(2);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", i * width + 4);
    label.setAttribute("y", 208);
    label.textContent = day.slice(5);
    const amount = document.createElementNS(ns, "text");
    amount.setAttribute("x", i * width + 4);
    amount.setAttribute("y", 184 - height);
    amount.textContent = money.format(Math.round(revenue));
    return [bar, label, amount];
  }));
}

function render(summary) {
  document.getElementById("kpi-orders").textContent = summary.orders;
  document.getElementById("kpi-orders").dataset.value = summary.orders;
  document.getElementById("kpi-revenue").textContent = money.format(summary.revenue);
  document.getElementById("kpi-revenue").dataset.value = summary.revenue.toFixed(2);
  document.getElementById("kpi-days").textContent = new Set(summary.days.map((d) => d.day)).size;
  document.getElementById("kpi-runs").textContent = summary.runs.length;
  drawChart(document.getElementById("chart-days"), summary.days);

  const statuses = new Map();
  for (const row of summary.days) {
    const seen = statuses.get(row.status) || { orders: 0, revenue: 0 };
    statuses.set(row.status, { orders: seen.orders + row.orders, revenue: seen.revenue + row.revenue });
  }
  fillRows(document.querySelector("#by-status tbody"), [...statuses.entries()].map(([status, v]) => {
    const orders = cell(v.orders, true);
    orders.dataset.status = status;
    return [cell(status), orders, cell(money.format(v.revenue), true)];
  }));

  fillRows(document.querySelector("#quality tbody"), Object.entries(summary.quality).map(([name, value]) => {
    const figure = cell(value, true);
    figure.dataset.figure = name;
    return [cell(name.replaceAll("_", " ")), figure];
  }));
  document.getElementById("checks").replaceChildren(...summary.checks.map((check) => {
    const li = document.createElement("li");
    li.textContent = `${check.name}: ${check.status}`;
    li.className = `status-${check.status}`;
    li.dataset.check = check.name;
    return li;
  }));

  fillRows(document.querySelector("#runs tbody"), summary.runs.map((run) => {
    const status = cell(run.status);
    status.className = `status-${run.status}`;
    status.dataset.runStatus = run.status;
    const seconds = run.start_time && run.end_time ? (run.end_time - run.start_time).toFixed(1) : "";
    const started = run.start_time ? new Date(run.start_time * 1000).toLocaleTimeString() : "";
    return [cell(run.run_id.slice(0, 8)), cell(run.batch || ""), status, cell(started), cell(seconds, true)];
  }));
}

async function refresh() {
  const error = document.getElementById("error");
  try {
    const response = await fetch("/api/summary", { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    render(body);
    error.hidden = true;
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.state = "ready";
  } catch (failure) {
    error.textContent = `Cannot load the figures: ${failure.message}`;
    error.hidden = false;
    if (document.body.dataset.state !== "ready") document.body.dataset.state = "error";
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
