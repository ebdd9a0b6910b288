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
# Of the JetStream API only what each service uses (as scripts/stack.sh):
# the DEPLOY stream's info and creation, and its own durable consumers'
# info, creation, next messages and acks; never a delete, purge or update.
# js CONSUMER...: the list for those consumers.
js() {
  # shellcheck disable=SC2016 # $JS is NATS subject text
  out='"$JS.API.INFO", "$JS.API.STREAM.INFO.DEPLOY", "$JS.API.STREAM.CREATE.DEPLOY"'
  for c in "$@"; do
    out="$out, \"\$JS.API.CONSUMER.INFO.DEPLOY.$c\", \"\$JS.API.CONSUMER.CREATE.DEPLOY.$c\""
    out="$out, \"\$JS.API.CONSUMER.CREATE.DEPLOY.$c.>\", \"\$JS.API.CONSUMER.DURABLE.CREATE.DEPLOY.$c\""
    out="$out, \"\$JS.API.CONSUMER.MSG.NEXT.DEPLOY.$c\", \"\$JS.ACK.DEPLOY.$c.>\""
  done
  printf '%s' "$out"
}
inbox='subscribe: { allow: ["_INBOX.>"] }'
umask 077
cat >/data/auth.conf <<CONF
authorization { users = [
  { user: api, password: "$NATS_PASSWORD_API", permissions: { publish: { allow: ["deploy.>", "app.run.>", "app.domains.>", $(js)], deny: ["deploy.exposed", "deploy.provisioned", "deploy.analyzed"] }, $inbox } }
  { user: coordinator, password: "$NATS_PASSWORD_COORDINATOR", permissions: { publish: { allow: ["deploy.>", $(js coordinator)], deny: ["deploy.exposed", "deploy.provisioned", "deploy.analyzed"] }, $inbox } }
  { user: analyzer, password: "$NATS_PASSWORD_ANALYZER", permissions: { publish: { allow: ["deploy.analyzed", "deploy.failed", "logs.>", $(js analyzer)] }, $inbox } }
  { user: builder, password: "$NATS_PASSWORD_BUILDER", permissions: { publish: { allow: ["deploy.built", "deploy.failed", "deploy.compensated.>", "logs.>", $(js builder builder-compensate)] }, $inbox } }
  { user: provisioner, password: "$NATS_PASSWORD_PROVISIONER", permissions: { publish: { allow: ["deploy.provisioned", "deploy.failed", "deploy.compensated.>", "logs.>", $(js provisioner provisioner-compensate)] }, $inbox } }
  { user: deployer, password: "$NATS_PASSWORD_DEPLOYER", permissions: { publish: { allow: ["deploy.exposed", "deploy.failed", "deploy.compensated.>", "logs.>", $(js deployer deployer-compensate)] }, subscribe: { allow: ["_INBOX.>", "app.run.>", "app.domains.>"] }, allow_responses: { max: 1 } } }
  { user: external, password: "$NATS_PASSWORD_EXTERNAL", permissions: { publish: { allow: ["deploy.requested"] }, $inbox } }
] }
CONF
exec nats-server -c /data/auth.conf -js -sd /data -a "$NATS_LISTEN" -p "$NATS_PORT"
