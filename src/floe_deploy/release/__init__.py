"""A release: what composes the images, the chart and the mirrors (`invoke build`, `publish`,
`images.mirror`), above the images, helm and demo packages it draws on."""
