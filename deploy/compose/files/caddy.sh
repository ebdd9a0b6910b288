#!/bin/sh
# caddy as the platform's ingress: the same two servers scripts/stack.sh
# configures (plain HTTP `apps`, HTTPS `apps_tls` with certificates from
# caddy's internal CA issued on demand), on INGRESS_LISTEN with
# INGRESS_HTTP_PORT / INGRESS_HTTPS_PORT, admin API on CADDY_ADMIN (a unix
# socket on a volume only the provisioner and the deployer mount; requests
# over it say Host: localhost).  Routes are not persisted: the provisioner
# puts them back after a restart.
set -eu
cat >/data/caddy.json <<JSON
{
  "admin": {"listen": "$CADDY_ADMIN", "origins": ["localhost"], "config": {"persist": false}},
  "storage": {"module": "file_system", "root": "/data"},
  "apps": {
    "http": {
      "http_port": $INGRESS_HTTP_PORT,
      "https_port": $INGRESS_HTTPS_PORT,
      "servers": {
        "apps": {
          "listen": ["$INGRESS_LISTEN:$INGRESS_HTTP_PORT"],
          "routes": [],
          "automatic_https": {"disable": true}
        },
        "apps_tls": {
          "listen": ["$INGRESS_LISTEN:$INGRESS_HTTPS_PORT"],
          "routes": [],
          "tls_connection_policies": [{}],
          "protocols": ["h1", "h2"],
          "automatic_https": {"disable_redirects": true}
        }
      }
    },
    "tls": {"automation": {"policies": [{"issuers": [{"module": "internal"}], "on_demand": true}]}},
    "pki": {"certificate_authorities": {"local": {"install_trust": false}}}
  }
}
JSON
exec caddy run --config /data/caddy.json
