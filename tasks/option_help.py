"""Help text of the options several task modules share, written once (`invoke --help TASK`)."""

JSON_HELP = "print the result as JSON (errors too)"
CA_HELP = "CA bundle passed to builds as a secret (default: the host's bundle)"
KEYLESS_HELP = "sign keyless with the CI job's OIDC identity (Sigstore) instead of a key"
VERIFY_KEY_HELP = "cosign public key (default: the dev key pair's)"
SET_HELP = "key=value override (repeatable)"
