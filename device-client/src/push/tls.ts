/**
 * TLS trust for the push channels (wss://, mqtts://) beyond the system's CAs: a broker or proxy
 * with a private CA. HTTPS requests go through `fetch`, which reads NODE_EXTRA_CA_CERTS.
 */
export interface PushTls {
  /** PEM certificates to trust. */
  ca?: string | Buffer | string[] | Buffer[];
}
