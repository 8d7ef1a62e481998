/* `dump --format otlp` and `dump --otlp URL`: the snapshots as OTLP/JSON (src/frontend/otlp.c),
 * printed, or POSTed to a collector's OTLP/HTTP traces endpoint with libcurl. The target was
 * detached before: a slow or absent collector never keeps it stopped. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/peers.h"
#include "ai/util.h"

/* The OTLP exporter spec's default timeout is 10 s for the whole export. */
#define OTLP_TIMEOUT_MS 10000L
#define OTLP_CONNECT_TIMEOUT_MS 5000L
/* How much of a collector's answer an error quotes. */
#define BODY_EXCERPT 200

static void new_trace_id(uint8_t id[16])
{
	size_t have = 0;
	while (have < 16) {
		ssize_t n = getrandom(id + have, 16 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (have < 16) {
		/* No entropy source: the time and pid still tell dumps apart. */
		uint64_t t = (uint64_t)ai_now_us() ^ ((uint64_t)getpid() << 40);
		memcpy(id, &t, 8);
		memcpy(id + 8, &t, 8);
		id[15] ^= 0x5a;
	}
	bool zero = true;
	for (size_t i = 0; i < 16; i++)
		zero &= id[i] == 0;
	if (zero)
		id[15] = 1; /* all zeros is an invalid trace id */
}

struct answer {
	char text[BODY_EXCERPT + 1];
	size_t len;
};

static size_t keep_answer(char *data, size_t size, size_t count, void *arg)
{
	struct answer *a = arg;
	size_t n = size * count;
	size_t room = BODY_EXCERPT - a->len;
	size_t take = n < room ? n : room;
	memcpy(a->text + a->len, data, take);
	a->len += take;
	a->text[a->len] = '\0';
	return n;
}

/* The answer on one line: control characters as spaces, trailing space cut. */
static void one_line(char *text)
{
	for (char *p = text; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	size_t len = strlen(text);
	while (len && text[len - 1] == ' ')
		text[--len] = '\0';
}

struct ai_error *ai_otlp_post(const char *url, const char *body, size_t len)
{
	static bool initialised;
	if (!initialised) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return ai_error_create(AI_ERROR_OTHER, "libcurl could not be initialised");
		initialised = true;
	}
	CURL *curl = curl_easy_init();
	if (!curl)
		return ai_error_create(AI_ERROR_OTHER, "libcurl could not be initialised");
	char curl_error[CURL_ERROR_SIZE] = "";
	struct answer answer = { .len = 0 };
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, OTLP_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, OTLP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "async-inspect/" AI_VERSION);
	CURLcode rc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		one_line(curl_error);
		return ai_error_create(AI_ERROR_OTHER, "OTLP export to %s failed: %s", url,
				       curl_error[0] ? curl_error : curl_easy_strerror(rc));
	}
	if (status < 200 || status > 299) {
		one_line(answer.text);
		return ai_error_create(AI_ERROR_OTHER, "OTLP export to %s: the collector answered HTTP %ld%s%s%s",
				       url, status, answer.len ? ": " : "", answer.text,
				       answer.len == BODY_EXCERPT ? "…" : "");
	}
	return NULL;
}

int ai_dump_otlp(const struct ai_process_set *set, const char *url, bool pretty)
{
	uint8_t trace_id[16];
	new_trace_id(trace_id);
	struct ai_json_writer w;
	if (!url) {
		ai_json_writer_init(&w, stdout, pretty);
		ai_write_otlp_json(&w, set, trace_id, AI_VERSION);
		int r = ai_json_writer_finish(&w);
		if (fputc('\n', stdout) == EOF || fflush(stdout) != 0)
			r = -1;
		return r == 0 ? AI_EXIT_OK : AI_EXIT_FAILURE;
	}
	ai_json_writer_init_buffer(&w, pretty);
	ai_write_otlp_json(&w, set, trace_id, AI_VERSION);
	size_t len;
	char *body = ai_json_writer_take(&w, &len);
	struct ai_error *err = ai_otlp_post(url, body, len);
	free(body);
	if (err)
		return ai_fail(err);
	size_t tasks = 0;
	for (size_t p = 0; p < set->count; p++)
		tasks += set->snapshots[p]->task_count;
	char trace[33];
	for (size_t i = 0; i < 16; i++)
		snprintf(trace + 2 * i, 3, "%02x", trace_id[i]);
	printf("exported %zu task%s of %zu process%s to %s (trace %s)\n", tasks, tasks == 1 ? "" : "s", set->count,
	       set->count == 1 ? "" : "es", url, trace);
	return fflush(stdout) == 0 ? AI_EXIT_OK : AI_EXIT_FAILURE;
}
