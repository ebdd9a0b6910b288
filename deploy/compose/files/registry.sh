#!/bin/sh
# The distribution registry for compose: it asks for credentials (htpasswd,
# bcrypt) of one account, REGISTRY_USERNAME (default app-deployer) with
# REGISTRY_PASSWORD (required), which the builder pushes and the deployer
# pulls with (docs/security.md).  The htpasswd file is made at each start in
# /tmp (0600); the password never reaches a command line.
set -eu
[ -n "${REGISTRY_PASSWORD:-}" ] || {
  echo "registry: set REGISTRY_PASSWORD" >&2
  exit 1
}
user=${REGISTRY_USERNAME:-app-deployer}
umask 077
salt=$(od -An -tx1 -N11 /dev/urandom | tr -d ' \n')
# shellcheck disable=SC2016 # perl code
printf '%s' "$REGISTRY_PASSWORD" | perl -e '
  my $pw = do { local $/; <STDIN> };
  my $h = crypt($pw, "\$2b\$10\$" . $ARGV[1]);
  defined $h && $h =~ /^\$2b\$/ or die "registry: bcrypt not supported by crypt(3)\n";
  print "$ARGV[0]:$h\n";' "$user" "$salt" >/tmp/htpasswd
unset REGISTRY_PASSWORD
exec docker-registry serve /etc/app-deployer/registry.yml
