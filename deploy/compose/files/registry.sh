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
  # Cost 5 for a password of 32 characters or more (a generated one, as
  # `openssl rand -hex 16` makes), whose guessing no cost slows further;
  # the registry checks it on every request.  A shorter one: cost 10.
  my $cost = length($pw) >= 32 ? "05" : "10";
  my $h = crypt($pw, "\$2b\$$cost\$" . $ARGV[1]);
  defined $h && $h =~ /^\$2b\$/ or die "registry: bcrypt not supported by crypt(3)\n";
  print "$ARGV[0]:$h\n";' "$user" "$salt" >/tmp/htpasswd
unset REGISTRY_PASSWORD
exec docker-registry serve /etc/app-deployer/registry.yml
