/* adanalyzer: deploy.requested -> clone -> detect -> deploy.analyzed.
 *
 *   adanalyzer [--config PATH]          the service
 *   adanalyzer detect [--plan] DIR      the detector on a local folder
 *   adanalyzer --list-images            the base images the plans use
 *                                       (scripts/base-images.sh builds them)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_cli.h"
#include "analyzer_service.h"
#include "buildplan.h"

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "detect") == 0)
                return analyzer_cli_detect(argc - 1, argv + 1);
        if (argc == 2 && strcmp(argv[1], "--list-images") == 0)
                return ad_buildplan_images_list(stdout) == 0 ? 0 : 1;
        return analyzer_service_main(argc, argv);
}
