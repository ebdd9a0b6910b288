#!/bin/sh
# app-deployer example: a shell app with nothing but the base image.
# perl-base is part of every Debian system, so it serves HTTP on $PORT.
exec perl -MIO::Socket::INET -e '
  $SIG{TERM} = sub { exit 0 };
  my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $ENV{PORT} || 8080,
                                Listen => 16, ReuseAddr => 1) or die "listen: $!";
  while (my $c = $s->accept) {
    while (my $line = <$c>) { last if $line =~ /^\r?\n$/ }
    my $body = "Hello from shell-app\n";
    print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .
             length($body) . "\r\nConnection: close\r\n\r\n$body";
    close $c;
  }'
