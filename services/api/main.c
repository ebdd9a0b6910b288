#include "ad/service.h"

int main(int argc, char **argv)
{
        return ad_service_main_idle("api", argc, argv);
}
