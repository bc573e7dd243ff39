/* Unit tests of log value quoting: text from outside (API answers, error messages) never
 * breaks a key=value line or starts a new one. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

Test(log, quotes_escape_quotes_backslashes_and_control_bytes)
{
    cr_assert_str_eq(nxc_log_q("plain"), "\"plain\"");
    cr_assert_str_eq(nxc_log_q("say \"no\" \\ now"), "\"say \\\"no\\\" \\\\ now\"");
    cr_assert_str_eq(nxc_log_q("two\nlines\r\t\x7f"), "\"two\\x0alines\\x0d\\x09\\x7f\"");
    cr_assert_str_eq(nxc_log_q(NULL), "\"\"");
}

Test(log, several_values_in_one_line_stay_apart)
{
    const char *a = nxc_log_q("a"), *b = nxc_log_q("b"), *c = nxc_log_q("c"), *d = nxc_log_q("d");

    cr_assert_str_eq(a, "\"a\"");
    cr_assert_str_eq(b, "\"b\"");
    cr_assert_str_eq(c, "\"c\"");
    cr_assert_str_eq(d, "\"d\"");
}

Test(log, a_long_value_is_cut_but_stays_quoted)
{
    char big[4 * NXC_LOG_Q_LEN];
    const char *q;

    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    q = nxc_log_q(big);
    cr_assert_lt(strlen(q), NXC_LOG_Q_LEN);
    cr_assert_eq(q[0], '"');
    cr_assert_eq(q[strlen(q) - 1], '"');
    /* cut between escapes, never inside one: an even run of backslash-quote pairs */
    cr_assert_eq((strlen(q) - 2) % 2, 0);
    cr_assert_eq(q[strlen(q) - 2], '"');
    cr_assert_eq(q[strlen(q) - 3], '\\');
}

static void capture(void)
{
    cr_redirect_stderr();
}

Test(log, a_line_with_control_bytes_stays_one_line, .init = capture)
{
    char got[512] = "";
    FILE *f;

    nxc_log(NXC_LOG_WARN, "test", "event=x raw=%s", "a\nlevel=error b\x1b[2J");
    fflush(stderr);
    f = cr_get_redirected_stderr();
    cr_assert_not_null(fgets(got, sizeof(got), f));
    cr_assert_not_null(strstr(got, " level=warn mod=test event=x raw=a?level=error b?[2J\n"),
                       "line: %s", got);
    cr_assert_null(fgets(got, sizeof(got), f), "a second line: %s", got);
}
