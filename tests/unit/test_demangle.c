#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "ai/demangle.h"

static void expect_demangled(const char *mangled, const char *expected)
{
	char *s = ai_demangle(mangled);
	cr_assert_not_null(s, "%s did not demangle", mangled);
	cr_expect_str_eq(s, expected, "%s", mangled);
	free(s);
}

static void expect_not_demangled(const char *mangled)
{
	char *s = ai_demangle(mangled);
	cr_expect_null(s, "%s gave %s", mangled, s ? s : "");
	free(s);
}

Test(demangle, legacy_strips_the_hash)
{
	expect_demangled("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write");
	expect_demangled("_ZN6nested4main17he462cf741612217cE", "nested::main");
	/* a compiler suffix after E */
	expect_demangled("_ZN4core3fmt5write17h0123456789abcdefE.llvm.1234567", "core::fmt::write");
}

Test(demangle, legacy_escapes)
{
	expect_demangled("_ZN100_$LT$core..iter..adapters..skip..Skip$LT$I$GT$$u20$as$u20$core..iter.."
			 "traits..iterator..Iterator$GT$4next17h7fe14541ebcc67d7E",
			 "<core::iter::adapters::skip::Skip<I> as core::iter::traits::iterator::Iterator>::next");
	expect_demangled("_ZN102_$LT$core..iter..adapters..map..Map$LT$I$C$F$GT$$u20$as$u20$core..iter.."
			 "traits..iterator..Iterator$GT$4fold17h4576f28168d0671fE",
			 "<core::iter::adapters::map::Map<I,F> as core::iter::traits::iterator::Iterator>::fold");
	expect_demangled("_ZN5tokio7runtime4park16CachedParkThread4park28_$u7b$$u7b$closure$u7d$$u7d$"
			 "17h399591698e1f2b0bE",
			 "tokio::runtime::park::CachedParkThread::park::{{closure}}");
	expect_demangled("_ZN3foo12$RF$$BP$$SP$17h0123456789abcdefE", "foo::&*@");
}

Test(demangle, v0)
{
	expect_demangled("_RNvNtCsjrHSEGnQ3l9_3std2rt19lang_start_internal",
			 "std::rt::lang_start_internal");
	expect_demangled("_RINvMNtCsgEmfK2I1SDS_4core3stre18trim_start_matchesReECsgY6Mt91CT9J_14rustc_demangle",
			 "<str>::trim_start_matches::<&str>");
	/* backreferences */
	expect_demangled("_RINvMNtCsgEmfK2I1SDS_4core5sliceSh11copy_withinINtNtNtB5_3ops5range14RangeIncl"
			 "usivejEECsfEOYDRpO4Ta_11miniz_oxide",
			 "<[u8]>::copy_within::<core::ops::range::RangeInclusive<usize>>");
	/* closures */
	expect_demangled("_RINvMs0_NtNtNtCsjrHSEGnQ3l9_3std12backtrace_rs9symbolize5gimliNtB6_5Cache11with"
			 "_globalNCNvB6_7resolves_0EBc_",
			 "<std::backtrace_rs::symbolize::gimli::Cache>::with_global::<std::backtrace_rs::"
			 "symbolize::gimli::resolve::{closure#1}>");
	/* trait impls, tuples, references */
	expect_demangled("_RNvXs_NtCs1234_3foo3barINtB4_3BazTjReEENtNtCs5678_4core3fmt5Debug3fmt",
			 "<foo::bar::Baz<(usize, &str)> as core::fmt::Debug>::fmt");
}

Test(demangle, rejects_non_rust_and_malformed)
{
	expect_not_demangled("main");
	expect_not_demangled("__libc_start_main");
	expect_not_demangled("_ZN3foo3barEv"); /* C++: a parameter list follows */
	expect_not_demangled("_ZN3fo");         /* truncated */
	expect_not_demangled("_ZN99999999999999999999fooE");
	expect_not_demangled("_RNv");
	expect_not_demangled("_RB_");           /* a backreference to itself */
	expect_not_demangled("_RNvB0_3foo");    /* a backreference forward */
	expect_not_demangled("");
	cr_expect_null(ai_demangle(NULL));
}

Test(demangle, deep_nesting_is_bounded)
{
	/* 10000 nested tuples: must fail cleanly, not overflow the stack */
	size_t n = 10000;
	char *s = malloc(2 * n + 32);
	char *p = s + sprintf(s, "_RINvCs_3foo3bar");
	for (size_t i = 0; i < n; i++)
		*p++ = 'T';
	*p++ = 'u';
	for (size_t i = 0; i < n; i++)
		*p++ = 'E';
	*p++ = 'E';
	*p = '\0';
	expect_not_demangled(s);
	free(s);
}

Test(demangle, recognizes_rust_symbols)
{
	cr_expect(ai_is_rust_symbol("_ZN4core3fmt5write17h0123456789abcdefE"));
	cr_expect(ai_is_rust_symbol("_RNvNtCsjrHSEGnQ3l9_3std2rt19lang_start_internal"));
	cr_expect(!ai_is_rust_symbol("_ZN3foo3barEv"));
	cr_expect(!ai_is_rust_symbol("pthread_create"));
}
