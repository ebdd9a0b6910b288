<?php
// app-deployer example: plain PHP served by PHP's built-in server on $PORT.
header('Content-Type: text/plain; charset=utf-8');
$name = getenv('GREETING_NAME') ?: 'php-app';
echo "Hello from {$name}\n";
echo 'PHP ' . PHP_VERSION . "\n";
