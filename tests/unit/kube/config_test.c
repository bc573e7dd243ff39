/* Kubeconfig loading: contexts, file paths, inline data, tokens, and clear errors. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "fake.h"
#include "kube.h"

static char *dir;

static void setup(void)
{
    dir = fake_mkdtemp();
    /* Inline data goes to temporary files: keep them where the test can see them. */
    setenv("TMPDIR", dir, 1);
}

static void teardown(void)
{
    fake_rmdir(dir);
    free(dir);
}

TestSuite(kube_config, .init = setup, .fini = teardown);

/* Two clusters, three users, three contexts. */
static const char multi[] = "apiVersion: v1\n"
                            "kind: Config\n"
                            "current-context: one\n"
                            "preferences: {}\n"
                            "clusters:\n"
                            "- name: c1\n"
                            "  cluster:\n"
                            "    server: https://127.0.0.1:6443/\n"
                            "    certificate-authority: pki/ca.crt\n"
                            "- name: c2\n"
                            "  cluster:\n"
                            "    server: https://[::1]:7443\n"
                            "    insecure-skip-tls-verify: true\n"
                            "    proxy-url: http://proxy.example:3128\n"
                            "contexts:\n"
                            "- name: one\n"
                            "  context: {cluster: c1, user: certs}\n"
                            "- name: two\n"
                            "  context:\n"
                            "    cluster: c2\n"
                            "    user: tok\n"
                            "    namespace: ignored\n"
                            "- name: three\n"
                            "  context: {cluster: c2, user: tokfile}\n"
                            "users:\n"
                            "- name: certs\n"
                            "  user:\n"
                            "    client-certificate: pki/client.crt\n"
                            "    client-key: /nonexistent-absolute/client.key\n"
                            "- name: tok\n"
                            "  user:\n"
                            "    token: abc.def\n"
                            "- name: tokfile\n"
                            "  user:\n"
                            "    tokenFile: secret/token\n";

static int count_temps(void)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    int n = 0;

    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "nxc-kube-", 9) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static char *temp_with(const char *content)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    char *found = NULL;

    while (!found && (e = readdir(d)) != NULL) {
        char path[4096], buf[256] = {0};
        FILE *f;

        if (strncmp(e->d_name, "nxc-kube-", 9) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "r");
        if (fread(buf, 1, sizeof(buf) - 1, f) > 0 && strcmp(buf, content) == 0)
            found = strdup(path);
        fclose(f);
    }
    closedir(d);
    return found;
}

static int load(const char *text, const char *context, nxc_kube_config **c)
{
    char *path = fake_file(dir, "config", text);
    int rc = nxc_kube_config_load(path, context, c);

    free(path);
    return rc;
}

Test(kube_config, current_context_with_relative_files)
{
    nxc_kube_config *c = NULL;
    char p[4096];

    snprintf(p, sizeof(p), "%s/pki", dir);
    mkdir(p, 0700);
    free(fake_file(dir, "pki/ca.crt", "CA"));
    free(fake_file(dir, "pki/client.crt", "CERT"));
    /* The key's absolute path does not exist: the error names it. */
    cr_assert_eq(load(multi, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "client-key /nonexistent-absolute/client.key"), "%s",
              nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "/config"), "%s", nxc_error_last());
}

Test(kube_config, relative_path_is_relative_to_the_file)
{
    nxc_kube_config *c = NULL;
    char want[4096];

    /* pki/ca.crt is missing: the message shows it was looked up beside the kubeconfig. */
    cr_assert_eq(load(multi, NULL, &c), NXC_EINVALID);
    snprintf(want, sizeof(want), "%s/pki/ca.crt", dir);
    cr_assert(strstr(nxc_error_last(), want), "%s", nxc_error_last());
}

Test(kube_config, files_present_load)
{
    static const char text[] = "current-context: x\n"
                               "clusters: [{name: c, cluster: {server: 'https://h:1',\n"
                               "  certificate-authority: ca.crt}}]\n"
                               "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                               "users: [{name: u, user: {client-certificate: c.crt,\n"
                               "  client-key: c.key}}]\n";
    nxc_kube_config *c = NULL;

    free(fake_file(dir, "ca.crt", "CA"));
    free(fake_file(dir, "c.crt", "CERT"));
    free(fake_file(dir, "c.key", "KEY"));
    cr_assert_eq(load(text, NULL, &c), 0, "%s", nxc_error_last());
    cr_assert_str_eq(nxc_kube_config_server(c), "https://h:1");
    cr_assert_eq(count_temps(), 0); /* files given by path are used in place */
    nxc_kube_config_free(c);
}

Test(kube_config, given_context_and_token)
{
    nxc_kube_config *c = NULL;

    cr_assert_eq(load(multi, "two", &c), 0, "%s", nxc_error_last());
    cr_assert_str_eq(nxc_kube_config_server(c), "https://[::1]:7443");
    nxc_kube_config_free(c);
}

Test(kube_config, token_file_relative)
{
    nxc_kube_config *c = NULL;
    char p[4096];

    snprintf(p, sizeof(p), "%s/secret", dir);
    mkdir(p, 0700);
    cr_assert_eq(load(multi, "three", &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "secret/token"), "%s", nxc_error_last());
    free(fake_file(dir, "secret/token", "  tok-from-file\n"));
    cr_assert_eq(load(multi, "three", &c), 0, "%s", nxc_error_last());
    nxc_kube_config_free(c);
}

Test(kube_config, inline_data_to_private_temp_files)
{
    /* "CA-PEM", "CERT-PEM", "KEY-PEM" in base64, the CA one wrapped over two lines. */
    static const char text[] = "current-context: x\n"
                               "clusters:\n"
                               "- name: c\n"
                               "  cluster:\n"
                               "    server: https://h:1\n"
                               "    certificate-authority-data: |\n"
                               "      Q0Et\n"
                               "      UEVN\n"
                               "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                               "users:\n"
                               "- name: u\n"
                               "  user:\n"
                               "    client-certificate-data: Q0VSVC1QRU0=\n"
                               "    client-key-data: S0VZLVBFTQ==\n";
    nxc_kube_config *c = NULL;
    char *ca, *cert, *key;
    struct stat st;

    cr_assert_eq(load(text, NULL, &c), 0, "%s", nxc_error_last());
    cr_assert_eq(count_temps(), 3);
    ca = temp_with("CA-PEM");
    cert = temp_with("CERT-PEM");
    key = temp_with("KEY-PEM");
    cr_assert(ca && cert && key);
    cr_assert_eq(stat(key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(ca, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    nxc_kube_config_free(c);
    cr_assert_eq(count_temps(), 0, "temporary files are removed with the config");
    free(ca);
    free(cert);
    free(key);
}

Test(kube_config, bad_base64_names_the_field)
{
    static const char text[] = "current-context: x\n"
                               "clusters: [{name: c, cluster: {server: 'https://h:1',\n"
                               "  certificate-authority-data: 'not*base64'}}]\n"
                               "contexts: [{name: x, context: {cluster: c}}]\n";
    nxc_kube_config *c = NULL;

    cr_assert_eq(load(text, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "certificate-authority-data"), "%s", nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "cluster \"c\""), "%s", nxc_error_last());
    cr_assert_eq(count_temps(), 0);
}

Test(kube_config, missing_current_context)
{
    nxc_kube_config *c = NULL;
    char *text = strdup(multi);

    memcpy(strstr(text, "current-context"), "#", 1);
    cr_assert_eq(load(text, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "\"current-context\" is not set"), "%s", nxc_error_last());
    cr_assert_null(c);
    free(text);
}

Test(kube_config, unknown_context_cluster_user)
{
    static const char no_cluster[] = "current-context: x\n"
                                     "contexts: [{name: x, context: {cluster: nope}}]\n";
    static const char no_user[] = "current-context: x\n"
                                  "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                                  "contexts: [{name: x, context: {cluster: c, user: who}}]\n";
    nxc_kube_config *c = NULL;

    cr_assert_eq(load(multi, "four", &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "context \"four\" not found"), "%s", nxc_error_last());
    cr_assert_eq(load(no_cluster, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "cluster \"nope\" not found"), "%s", nxc_error_last());
    cr_assert_eq(load(no_user, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "user \"who\" not found"), "%s", nxc_error_last());
}

Test(kube_config, field_errors)
{
    static const char no_server[] = "current-context: x\n"
                                    "clusters: [{name: c, cluster: {}}]\n"
                                    "contexts: [{name: x, context: {cluster: c}}]\n";
    static const char bad_insecure[] = "current-context: x\n"
                                       "clusters: [{name: c, cluster: {server: 'https://h',\n"
                                       "  insecure-skip-tls-verify: 'yes'}}]\n"
                                       "contexts: [{name: x, context: {cluster: c}}]\n";
    static const char cert_only[] = "current-context: x\n"
                                    "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                                    "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                                    "users: [{name: u, user: {client-certificate-data: QQ==}}]\n";
    static const char exec_user[] = "current-context: x\n"
                                    "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                                    "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                                    "users: [{name: u, user: {exec: {command: aws}}}]\n";
    static const char server_int[] = "current-context: x\n"
                                     "clusters: [{name: c, cluster: {server: 42}}]\n"
                                     "contexts: [{name: x, context: {cluster: c}}]\n";
    nxc_kube_config *c = NULL;

    cr_assert_eq(load(no_server, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "\"server\" is not set"), "%s", nxc_error_last());
    cr_assert_eq(load(bad_insecure, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "insecure-skip-tls-verify"), "%s", nxc_error_last());
    cr_assert_eq(load(cert_only, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "client key"), "%s", nxc_error_last());
    cr_assert_eq(count_temps(), 0, "a failed load leaves no temporary file");
    cr_assert_eq(load(exec_user, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "exec"), "%s", nxc_error_last());
    cr_assert_eq(load(server_int, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "\"server\" must be a string"), "%s", nxc_error_last());
}

Test(kube_config, malformed_yaml_has_line)
{
    static const char text[] = "current-context: x\n"
                               "clusters:\n"
                               "- name: c\n"
                               "  cluster: {server: [unclosed\n"
                               "contexts: []\n";
    nxc_kube_config *c = NULL;

    cr_assert_eq(load(text, NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "line "), "%s", nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "/config"), "%s", nxc_error_last());
}

Test(kube_config, not_a_mapping_and_missing_file)
{
    nxc_kube_config *c = NULL;

    cr_assert_eq(load("- a\n- b\n", NULL, &c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "not a kubeconfig"), "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_config_load("/nonexistent/kubeconfig", NULL, &c), NXC_ENOTFOUND);
    cr_assert(strstr(nxc_error_last(), "/nonexistent/kubeconfig"), "%s", nxc_error_last());
}

Test(kube_config, in_cluster_needs_environment)
{
    nxc_kube_config *c = NULL;

    unsetenv("KUBERNETES_SERVICE_HOST");
    cr_assert_eq(nxc_kube_config_in_cluster(&c), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "KUBERNETES_SERVICE_HOST"), "%s", nxc_error_last());
}
