/**
 * A self-signed certificate for 127.0.0.1 (EC P-256, valid 100 years), for tests of https clients against a
 * node:https server on loopback. Test-only: the key is public.
 */

/** PEM private key of `LOOPBACK_CERT`. */
export const LOOPBACK_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLu4FffNv8NRLinP6
gfDPd9YDiMJTWvAgLImTo9YlHfChRANCAAQcDurnMkGRXE+B+UVE5G/dP0etM1y6
kRNZkHOgdy33ekOkziivlmuLaxc5BMvCxXc0An4VzdmQkgnXdH3pV4Gx
-----END PRIVATE KEY-----
`;

/** PEM self-signed certificate, subjectAltName IP:127.0.0.1; pass it as the client's `ca`. */
export const LOOPBACK_CERT = `-----BEGIN CERTIFICATE-----
MIIBjzCCATagAwIBAgIUDAiJOA0El+K3+M05XCpy+o4v+fswCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwNTE4MDc0MFoYDzIxMjYxMTEx
MTgwNzQwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQcDurnMkGRXE+B+UVE5G/dP0etM1y6kRNZkHOgdy33ekOkziivlmuL
axc5BMvCxXc0An4VzdmQkgnXdH3pV4Gxo2QwYjAdBgNVHQ4EFgQUhmfflD04aPFV
2Ffs+h9TvFxKSTAwHwYDVR0jBBgwFoAUhmfflD04aPFV2Ffs+h9TvFxKSTAwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0cAMEQC
IFLHxUPnlYxhqH3X+PdSqdzgxHFQPWJ/ek4SEGD0LvReAiA63vQ5qnmJGsffQ9u0
XNy1zShK/ccVfYAxvnPIntFD8A==
-----END CERTIFICATE-----
`;
