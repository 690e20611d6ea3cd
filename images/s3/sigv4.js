'use strict';
// AWS Signature Version 4 checking for header-signed requests. s3rver accepts any secret for a
// known access key (it never computes V4 signatures); real S3 and MinIO reject a wrong secret with
// 403 SignatureDoesNotMatch, and the preflight checks must see the same here.
const crypto = require('crypto');

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data, 'utf8').digest();
const sha256 = (data) => crypto.createHash('sha256').update(data, 'utf8').digest('hex');
const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/;

function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const index = pair.indexOf('=');
      return index < 0 ? [pair, ''] : [pair.slice(0, index), pair.slice(index + 1)];
    })
    .map(([key, value]) => [encode(key), encode(value)])
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

function encode(component) {
  return encodeURIComponent(decodeURIComponent(component.replace(/\+/g, '%20'))).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function expectedSignature(req, secret, scope, signedHeaders) {
  const [path, rawQuery] = req.url.split('?');
  const headers = signedHeaders
    .split(';')
    .map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payloadHash = req.headers['x-amz-content-sha256'] || 'UNSIGNED-PAYLOAD';
  const canonical = [req.method, path, canonicalQuery(rawQuery), headers, signedHeaders, payloadHash].join('\n');
  const [date, region, service] = scope.split('/');
  const stringToSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  return crypto.createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

function rejection(ctx, code, message) {
  ctx.status = 403;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

module.exports = function sigv4(accessKey, secret) {
  return async (ctx, next) => {
    const match = AUTH.exec(ctx.get('authorization'));
    if (match) {
      const [, keyId, scope, signedHeaders, signature] = match;
      if (keyId !== accessKey) {
        return rejection(ctx, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
      }
      const expected = expectedSignature(ctx.req, secret, scope, signedHeaders);
      if (!crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature.padEnd(expected.length, '0').slice(0, expected.length)))) {
        return rejection(ctx, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
      }
    }
    return next();
  };
};
