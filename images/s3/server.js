'use strict';
// floe's hermetic S3-compatible server: s3rver behind MinIO's container contract, so the compose
// stack runs either image unchanged: `server DIR [--address HOST:PORT]`, credentials from
// MINIO_ROOT_USER / MINIO_ROOT_PASSWORD, data persisted in DIR. Buckets named in FLOE_S3_BUCKETS
// (comma-separated) are created at start.
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');
const sigv4 = require('./sigv4');

function parseArgs(argv) {
  const args = argv[0] === 'server' ? argv.slice(1) : argv;
  let directory = '/data';
  let address = '0.0.0.0';
  let port = 9000;
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === '--address') {
      const [host, rawPort] = args[(i += 1)].split(':');
      address = host || '0.0.0.0';
      port = Number(rawPort);
    } else if (args[i] === '--console-address') {
      i += 1;
    } else {
      directory = args[i];
    }
  }
  return { directory, address, port };
}

const user = process.env.MINIO_ROOT_USER;
const password = process.env.MINIO_ROOT_PASSWORD;
if (!user || !password) {
  console.error('ERROR: MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must be set. Remediation: set both (password at least 8 characters)');
  process.exit(1);
}
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(user, password);

const { directory, address, port } = parseArgs(process.argv.slice(2));
const buckets = (process.env.FLOE_S3_BUCKETS || '')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean)
  .map((name) => ({ name, configs: [] }));

// Path-style only, as MinIO without MINIO_DOMAIN: s3rver would otherwise read a service name
// such as `s3` in the Host header as a bucket name.
const server = new S3rver({
  directory, address, port, silent: true, configureBuckets: buckets, vhostBuckets: false,
});
server.middleware.unshift(sigv4(user, password));
server.run().then(
  () => console.log(`S3 API on ${address}:${port}, data in ${directory}`),
  (error) => {
    console.error(`ERROR: ${error.message}`);
    process.exit(1);
  },
);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close().finally(() => process.exit(0)));
}
