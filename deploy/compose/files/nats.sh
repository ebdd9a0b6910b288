#!/bin/sh
# nats-server for compose: JetStream in /data, and the users scripts/stack.sh
# configures (docs/security.md): one per service with only the subjects it
# publishes, `external` for deploy.requested from outside, from the
# NATS_PASSWORD_<USER> variables (all required; no admin user here).
set -eu
for u in API COORDINATOR ANALYZER BUILDER PROVISIONER DEPLOYER EXTERNAL; do
  eval "v=\${NATS_PASSWORD_$u:-}"
  [ -n "$v" ] || {
    echo "nats: set NATS_PASSWORD_$u" >&2
    exit 1
  }
done
# shellcheck disable=SC2016 # $JS is NATS subject text
js='"$JS.API.>", "$JS.ACK.>"'
inbox='subscribe: { allow: ["_INBOX.>"] }'
umask 077
cat >/data/auth.conf <<CONF
authorization { users = [
  { user: api, password: "$NATS_PASSWORD_API", permissions: { publish: { allow: ["deploy.>", "app.run.>", "app.domains.>", $js], deny: ["deploy.exposed", "deploy.provisioned", "deploy.analyzed"] }, $inbox } }
  { user: coordinator, password: "$NATS_PASSWORD_COORDINATOR", permissions: { publish: { allow: ["deploy.>", $js], deny: ["deploy.exposed", "deploy.provisioned", "deploy.analyzed"] }, $inbox } }
  { user: analyzer, password: "$NATS_PASSWORD_ANALYZER", permissions: { publish: { allow: ["deploy.analyzed", "deploy.failed", "logs.>", $js] }, $inbox } }
  { user: builder, password: "$NATS_PASSWORD_BUILDER", permissions: { publish: { allow: ["deploy.built", "deploy.failed", "deploy.compensated.>", "logs.>", $js] }, $inbox } }
  { user: provisioner, password: "$NATS_PASSWORD_PROVISIONER", permissions: { publish: { allow: ["deploy.provisioned", "deploy.failed", "deploy.compensated.>", "logs.>", $js] }, $inbox } }
  { user: deployer, password: "$NATS_PASSWORD_DEPLOYER", permissions: { publish: { allow: ["deploy.exposed", "deploy.failed", "deploy.compensated.>", "logs.>", $js] }, subscribe: { allow: ["_INBOX.>", "app.run.>", "app.domains.>"] }, allow_responses: { max: 1 } } }
  { user: external, password: "$NATS_PASSWORD_EXTERNAL", permissions: { publish: { allow: ["deploy.requested"] }, $inbox } }
] }
CONF
exec nats-server -c /data/auth.conf -js -sd /data -a "$NATS_LISTEN" -p "$NATS_PORT"
