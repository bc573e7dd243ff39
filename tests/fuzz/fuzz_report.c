/* Fuzz target: a peer's answer to a status request (JSON over core NATS). */
#include <stddef.h>
#include <stdint.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_decref(intent_parse_report((const char *)data, size));
    return 0;
}
