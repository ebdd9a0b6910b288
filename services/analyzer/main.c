/* adanalyzer: deploy.requested -> clone -> detect -> deploy.analyzed.
 *
 *   adanalyzer [--config PATH]          the service
 *   adanalyzer detect [--plan] DIR      the detector on a local folder
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer_cli.h"
#include "analyzer_service.h"

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "detect") == 0)
                return analyzer_cli_detect(argc - 1, argv + 1);
        return analyzer_service_main(argc, argv);
}
