/* The libFuzzer entry point of one harness, chosen at build time (-DAI_FUZZ_TARGET=ai_fuzz_json). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return AI_FUZZ_TARGET(data, size);
}
