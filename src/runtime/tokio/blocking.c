#include "tokio.h"
void tk_blocking_collect(struct tk *tk, const struct ai_stack *stacks) {}
