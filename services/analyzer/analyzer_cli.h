/* `adanalyzer detect`: the detector and the build planner from a shell. */
#ifndef AD_ANALYZER_CLI_H
#define AD_ANALYZER_CLI_H

/* adanalyzer detect [--plan] [--extra-ca] DIR
 *
 * argv[0] is "detect" (main calls analyzer_cli_detect(argc - 1, argv + 1));
 * the whole argv of the program, with "detect" in argv[1], is accepted too.
 *
 * Prints the analysis as one JSON object on stdout, or with --plan the
 * Dockerfile the builder would generate (--extra-ca: as when the operator
 * configured an extra CA bundle).  Exit status: 0 done; 2 usage error or
 * nothing recognisable in DIR (stderr says what was looked for); 1 any
 * other error (e.g. a malformed package.json). */
int analyzer_cli_detect(int argc, char **argv);

#endif
