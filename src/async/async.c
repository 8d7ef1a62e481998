/* The shared state of the async decoders of one capture. */
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/intern.h"
#include "ai/runtime.h"
#include "ai/util.h"
#include "macro_site.h"

void ai_async_options_default(struct ai_async_options *options)
{
	/* Every field: callers keep the options on their stack (all_locals used to be left as found). */
	memset(options, 0, sizeof(*options));
	options->locals = true;
	options->all_locals = false;
	options->max_depth = 64;
	options->max_nodes = 1000;
	ai_value_limits_default(&options->value_limits);
	/* the runtimes' own locks and channels, summarized by their adapters */
	options->value_limits.summary = ai_runtimes_value_summary;
}

struct ai_error *ai_async_create(struct ai_target *target, struct ai_debuginfo *di,
				 const struct ai_async_options *options, struct ai_async **ret)
{
	struct ai_dwarf *dwarf = ai_debuginfo_main_dwarf(di);
	if (!dwarf)
		return ai_error_create(AI_ERROR_DWARF, "cannot read the DWARF of %s",
				       target->exe_path);
	struct ai_async *as = xcalloc(1, sizeof(*as));
	as->target = target;
	as->di = di;
	as->module = ai_debuginfo_main_module(di);
	as->dwarf = dwarf;
	as->types = ai_types_create(dwarf);
	as->user_code = ai_user_code_create(dwarf);
	if (options)
		as->options = *options;
	else
		ai_async_options_default(&as->options);
	*ret = as;
	return NULL;
}

void ai_async_set_module(struct ai_async *as, struct ai_module *module)
{
	struct ai_dwarf *dwarf = ai_module_dwarf(module);
	if (module == as->module || !dwarf)
		return;
	ai_macro_sites_destroy(as->macro_sites);
	as->macro_sites = NULL;
	ai_drop_glue_cache_destroy(as->drop_glue);
	ai_intern_destroy(as->names);
	as->drop_glue = NULL;
	ai_types_destroy(as->types);
	ai_user_code_destroy(as->user_code);
	as->module = module;
	as->dwarf = dwarf;
	as->types = ai_types_create(dwarf);
	as->user_code = ai_user_code_create(dwarf);
}

void ai_async_destroy(struct ai_async *as)
{
	if (!as)
		return;
	ai_macro_sites_destroy(as->macro_sites);
	ai_types_destroy(as->types);
	ai_user_code_destroy(as->user_code);
	ai_drop_glue_cache_destroy(as->drop_glue);
	ai_intern_destroy(as->names);
	free(as);
}
