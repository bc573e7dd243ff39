/* Unit tests of the agent config: valid files, defaults, and errors that name the field. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "err.h"
#include "yaml.h"

static const char *const GOOD =
    "runtime:\n"
    "  id: saas\n"
    "  kubeconfig: /etc/nexus/kubeconfig\n"
    "nats:\n"
    "  urls: nats://10.0.0.1:4222,nats://10.0.0.2:4222\n"
    "  credentials: /etc/nexus/agent.creds\n"
    "  tls: {ca: /etc/nexus/ca.pem}\n"
    "peers:\n"
    "  - id: edge-1\n"
    "  - {id: edge-2, domain: leaf2}\n"
    "store:\n"
    "  path: /var/lib/nexus-agent\n"
    "  map-size: 2GiB\n"
    "http:\n"
    "  listen: 0.0.0.0:9090\n"
    "stream:\n"
    "  max-age: 7d\n"
    "  duplicate-window: 5m\n"
    "replicate:\n"
    "  - {group: gns.tsm.tanzu.vmware.com, version: v1, resource: gnses}\n"
    "  - {group: \"\", version: v1, resource: configmaps, namespaced: true}\n";

/* Parses text as a config; returns the code, *out set on success. */
static int parse(const char *text, nxc_cfg **out)
{
    json_t *doc = NULL;
    int rc = nxc_yaml_parse(text, strlen(text), &doc);

    *out = NULL;
    if (rc)
        return rc;
    rc = nxc_cfg_from_json(doc, "test.yaml", out);
    json_decref(doc);
    if (rc == 0) {
        rc = nxc_cfg_validate(*out);
        if (rc) {
            nxc_cfg_free(*out);
            *out = NULL;
        }
    }
    return rc;
}

Test(cfg, full_config_parses)
{
    nxc_cfg *c;

    cr_assert_eq(parse(GOOD, &c), 0, "%s", nxc_error_last());
    cr_assert_str_eq(c->runtime_id, "saas");
    cr_assert_str_eq(c->kubeconfig, "/etc/nexus/kubeconfig");
    cr_assert_str_eq(c->nats_urls, "nats://10.0.0.1:4222,nats://10.0.0.2:4222");
    cr_assert_str_eq(c->nats_creds, "/etc/nexus/agent.creds");
    cr_assert_str_eq(c->nats_ca, "/etc/nexus/ca.pem");
    cr_assert_eq(c->npeers, 2);
    cr_assert_str_eq(c->peers[0].id, "edge-1");
    cr_assert_null(c->peers[0].domain);
    cr_assert_str_eq(c->peers[1].domain, "leaf2");
    cr_assert_eq(c->store_map_size, 2ull << 30);
    cr_assert_eq(c->stream_max_age_ms, 7LL * 86400 * 1000);
    cr_assert_eq(c->stream_dup_window_ms, 300000);
    cr_assert_eq(c->ntypes, 2);
    cr_assert_str_eq(c->types[0].resource, "gnses");
    cr_assert_eq(c->types[0].namespaced, 0);
    cr_assert_str_eq(c->types[1].group, "");
    cr_assert_eq(c->types[1].namespaced, 1);
    cr_assert_str_eq(c->log_level, "info", "default level");
    cr_assert_eq(c->apply_concurrency, 16, "default concurrency");
    nxc_cfg_free(c);
}

Test(cfg, flags_override_fields)
{
    nxc_cfg *c;

    cr_assert_eq(parse(GOOD, &c), 0);
    cr_assert_eq(nxc_cfg_set(c, "runtime.id", "other"), 0);
    cr_assert_eq(nxc_cfg_set(c, "nats.urls", "tls://x:4222"), 0);
    cr_assert_eq(nxc_cfg_set(c, "log.level", "debug"), 0);
    cr_assert_eq(nxc_cfg_validate(c), 0, "%s", nxc_error_last());
    cr_assert_str_eq(c->runtime_id, "other");
    cr_assert_str_eq(c->nats_urls, "tls://x:4222");
    cr_assert_eq(nxc_cfg_set(c, "runtime.nope", "x"), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "runtime.nope"));
    nxc_cfg_free(c);
}

/* Each broken config fails with a message naming the field. */
struct bad {
    const char *from; /* text in GOOD to replace */
    const char *to;
    const char *field;
};

Test(cfg, errors_name_the_field)
{
    static const struct bad cases[] = {
        {"  id: saas\n", "", "runtime.id"},
        {"  id: saas\n", "  id: \"sa.as\"\n", "runtime.id"},
        {"  kubeconfig: /etc/nexus/kubeconfig\n", "", "runtime.kubeconfig"},
        {"  kubeconfig: /etc/nexus/kubeconfig\n", "  kubeconfig: /k\n  in-cluster: true\n",
         "runtime.kubeconfig"},
        {"  urls: nats://10.0.0.1:4222,nats://10.0.0.2:4222\n", "  urls: http://x\n", "nats.urls"},
        {"  tls: {ca: /etc/nexus/ca.pem}\n", "  tls: {cert: /c}\n", "nats.tls"},
        {"  tls: {ca: /etc/nexus/ca.pem}\n", "  tls: {cafile: /c}\n", "nats.tls.cafile"},
        {"  - id: edge-1\n", "  - id: saas\n", "peers[0].id"},
        {"  - {id: edge-2, domain: leaf2}\n", "  - {id: edge-1}\n", "peers[1].id"},
        {"  map-size: 2GiB\n", "  map-size: lots\n", "store.map-size"},
        {"  path: /var/lib/nexus-agent\n", "", "store.path"},
        {"  listen: 0.0.0.0:9090\n", "  listen: 9090\n", "http.listen"},
        {"  max-age: 7d\n", "  max-age: soon\n", "stream.max-age"},
        {"  duplicate-window: 5m\n", "  duplicate-window: 10ms\n", "stream.duplicate-window"},
        {"  - {group: gns.tsm.tanzu.vmware.com, version: v1, resource: gnses}\n",
         "  - {group: gns.tsm.tanzu.vmware.com, resource: gnses}\n", "replicate[0].version"},
        {"  - {group: gns.tsm.tanzu.vmware.com, version: v1, resource: gnses}\n",
         "  - {group: gns.tsm.tanzu.vmware.com, version: v1, resource: gnses, kind: Gns}\n",
         "replicate[0].kind"},
        {"  - {group: \"\", version: v1, resource: configmaps, namespaced: true}\n",
         "  - {group: \"\", version: v1, resource: configmaps, namespaced: maybe}\n",
         "replicate[1].namespaced"},
        {"http:\n", "htttp:\n", "htttp"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[4096];
        const char *at = strstr(GOOD, cases[i].from);
        nxc_cfg *c = NULL;
        int rc;

        cr_assert_not_null(at, "case %zu: pattern not in GOOD", i);
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - GOOD), GOOD, cases[i].to,
                 at + strlen(cases[i].from));
        rc = parse(text, &c);
        cr_expect_eq(rc, NXC_EINVALID, "case %zu (%s) was accepted", i, cases[i].field);
        cr_expect(strstr(nxc_error_last(), cases[i].field) != NULL,
                  "case %zu: message '%s' does not name %s", i, nxc_error_last(), cases[i].field);
        nxc_cfg_free(c);
    }
}

Test(cfg, missing_file_is_a_clear_error)
{
    nxc_cfg *c = NULL;

    cr_assert_neq(nxc_cfg_load("/nonexistent/agent.yaml", &c), 0);
    cr_assert_null(c);
    cr_assert(strstr(nxc_error_last(), "/nonexistent/agent.yaml"), "%s", nxc_error_last());
}

Test(cfg, not_a_mapping)
{
    nxc_cfg *c = NULL;

    cr_assert_eq(parse("- just\n- a list\n", &c), NXC_EINVALID);
    cr_assert_eq(parse("42\n", &c), NXC_EINVALID);
}

Test(cfg, durations_and_sizes)
{
    int64_t ms;
    uint64_t b;

    cr_assert_eq(nxc_cfg_parse_duration("500ms", &ms), 0);
    cr_assert_eq(ms, 500);
    cr_assert_eq(nxc_cfg_parse_duration("30", &ms), 0);
    cr_assert_eq(ms, 30000);
    cr_assert_eq(nxc_cfg_parse_duration("1.5h", &ms), 0);
    cr_assert_eq(ms, 5400000);
    cr_assert_eq(nxc_cfg_parse_duration("-1s", &ms), NXC_EINVALID);
    cr_assert_eq(nxc_cfg_parse_duration("1y", &ms), NXC_EINVALID);
    cr_assert_eq(nxc_cfg_parse_duration("1e300d", &ms), NXC_EINVALID);
    cr_assert_eq(nxc_cfg_parse_size("512MiB", &b), 0);
    cr_assert_eq(b, 512ull << 20);
    cr_assert_eq(nxc_cfg_parse_size("1000", &b), 0);
    cr_assert_eq(b, 1000);
    cr_assert_eq(nxc_cfg_parse_size("99999999999TiB", &b), NXC_EINVALID);
    cr_assert_eq(nxc_cfg_parse_size("-1", &b), NXC_EINVALID);
    cr_assert_eq(nxc_cfg_parse_size("1 GiB", &b), NXC_EINVALID);
}
