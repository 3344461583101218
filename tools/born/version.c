/* `born version`: the library version, the CPU kernel level and the devices found. */
#include <stdio.h>

#include "born/born.h"
#include "tools/born/commands.h"

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    born_init();
    printf("born %s\n", born_version());
    printf("threads: %d\n", born_get_num_threads());
    printf("cuda devices: %d\n", born_device_count(BORN_DEVICE_CUDA));
    return 0;
}
