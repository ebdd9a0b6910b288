#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
        if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
                printf("adctl 0.1.0\n");
                return 0;
        }
        fprintf(stderr, "usage: adctl deploy|ls|status|logs|rm|rollback ...\n");
        return 2;
}
