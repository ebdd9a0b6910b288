<?php
// app-deployer example: plain PHP, served in production by php-fpm behind caddy on $PORT.
header('Content-Type: text/plain; charset=utf-8');
$name = getenv('GREETING_NAME') ?: 'php-app';
echo "Hello from {$name}\n";
echo 'PHP ' . PHP_VERSION . "\n";
