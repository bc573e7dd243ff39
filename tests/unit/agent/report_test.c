/* Unit tests of the parser of a peer's status answer (untrusted JSON from core NATS). */
#include <criterion/criterion.h>
#include <string.h>

#include "agent.h"

static json_t *parse(const char *text)
{
    return intent_parse_report(text, strlen(text));
}

Test(report, a_well_formed_answer_is_kept)
{
    json_t *doc = parse("{\"runtime\":\"edge\",\"applied\":42,\"problems\":[{\"kind\":\"rejected\","
                        "\"what\":\"g/r//n\",\"message\":\"422\"}]}");

    cr_assert_not_null(doc);
    cr_assert_eq(json_integer_value(json_object_get(doc, "applied")), 42);
    cr_assert_eq(json_array_size(json_object_get(doc, "problems")), 1);
    json_decref(doc);
}

Test(report, malformed_answers_are_refused)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"applied\":1}",
        "{\"applied\":-1,\"problems\":[]}",
        "{\"applied\":\"1\",\"problems\":[]}",
        "{\"applied\":1,\"problems\":{}}",
        "{\"applied\":1,\"problems\":[{\"kind\":\"rejected\",\"what\":\"x\"}]}",
        "{\"applied\":1,\"problems\":[{\"kind\":1,\"what\":\"x\",\"message\":\"m\"}]}",
        "{\"applied\":1,\"applied\":2,\"problems\":[]}",
        "{\"applied\":1,\"problems\":[]} trailing",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_null(parse(bad[i]), "accepted: %s", bad[i]);
}
