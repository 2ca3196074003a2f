"""A third-party verifier for countersign's just-in-time credentials (I9).

Fetches the JWKS over HTTP, verifies a token with PyJWT (EdDSA via `cryptography`),
and checks that a tampered copy is rejected. Off-the-shelf libraries only: this is
what a target system would do.

usage: verify_jwt.py JWKS_URL TOKEN AUDIENCE EXPECTED_SUB
Prints one JSON line with the verified claims; exits non-zero on any failure.
"""

import json
import sys

import jwt


def main() -> int:
    jwks_url, token, audience, expected_sub = sys.argv[1:5]
    client = jwt.PyJWKClient(jwks_url)
    key = client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA", header
    assert header.get("kid") == key.key_id, (header, key.key_id)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer="urn:countersign",
        options={"require": ["exp", "iat", "jti", "sub"]},
    )
    assert claims["sub"] == expected_sub, claims

    # Tamper with the claims: change one character of the payload.
    head, payload, sig = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    tampered = ".".join([head, flipped, sig])
    try:
        jwt.decode(tampered, key.key, algorithms=["EdDSA"], audience=audience)
    except jwt.InvalidTokenError:
        pass
    else:
        print("a tampered token verified", file=sys.stderr)
        return 1

    # A token signed with another key (HS256 with the public key as secret) is refused.
    try:
        forged = jwt.encode(claims, "not-the-key", algorithm="HS256", headers={"kid": key.key_id})
        jwt.decode(forged, key.key, algorithms=["EdDSA"], audience=audience)
    except jwt.InvalidTokenError:
        pass
    else:
        print("an HS256 forgery verified", file=sys.stderr)
        return 1

    print(json.dumps({"verified": True, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
