#ifndef AD_ANALYZER_SERVICE_H
#define AD_ANALYZER_SERVICE_H

/* The analyzer service: consumes deploy.requested, clones the repository,
 * runs the detector and publishes deploy.analyzed (or deploy.failed). */
int analyzer_service_main(int argc, char **argv);

#endif
