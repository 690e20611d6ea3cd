"""Help text of the options several task modules share, written once (`invoke --help TASK`)."""

JSON_HELP = "print the result as JSON (errors too)"
CA_HELP = "CA bundle passed to builds as a secret (default: the host's bundle)"
KEYLESS_HELP = "sign keyless with the CI job's OIDC identity (Sigstore) instead of a key"
VERIFY_KEY_HELP = "cosign public key (default: the dev key pair's)"
SET_HELP = "key=value override (repeatable)"
IDENTITY_HELP = (
    "the exact identity that published: keyless, the signing certificate's (with "
    "--certificate-oidc-issuer); with --key, the builder the signed provenance names; e.g. "
    "https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.4.0"
)
IDENTITY_REGEXP_HELP = "match --certificate-identity as a pattern, anchored at both ends"
ISSUER_HELP = "keyless: the OIDC issuer, e.g. https://token.actions.githubusercontent.com"
