/*
 * nexus-inspect: prints a connector stream as JSON lines — one line per message, with the
 * stream sequence, time, subject and the decoded event (msgpack body turned into JSON) — so
 * an operator can read or grep what the agents exchanged.
 *
 *   nexus-inspect --nats nats://127.0.0.1:4222 --stream NXC_saas [--from SEQ] [--count N]
 *                 [--creds FILE] [--ca FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "err.h"
#include "event.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: nexus-inspect --nats URLS --stream NAME [--from SEQ] [--count N]\n"
               "                     [--creds FILE] [--ca FILE]\n"
               "Prints each message of a connector stream as one JSON line.\n");
}

/* A decimal number of digits only (no sign, no spaces, no suffix). */
static int number(const char *s, uint64_t *out)
{
    char *end = NULL;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nats", required_argument, NULL, 'n'},  {"stream", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'f'},  {"count", required_argument, NULL, 'c'},
        {"creds", required_argument, NULL, 'C'}, {"ca", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    nxc_bus_opts bo;
    nxc_bus *bus = NULL;
    const char *stream = NULL;
    uint64_t seq = 1, count = UINT64_MAX, first = 0, last = 0, msgs = 0;
    int opt, rc, bad = 0;

    memset(&bo, 0, sizeof(bo));
    bo.name = "nexus-inspect";
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': bo.urls = optarg; break;
        case 's': stream = optarg; break;
        case 'f':
            if (number(optarg, &seq) != 0 || seq == 0) {
                fprintf(stderr, "nexus-inspect: --from: '%s' is not a sequence (1 or more)\n",
                        optarg);
                return 2;
            }
            break;
        case 'c':
            if (number(optarg, &count) != 0) {
                fprintf(stderr, "nexus-inspect: --count: '%s' is not a whole number\n", optarg);
                return 2;
            }
            break;
        case 'C': bo.creds_file = optarg; break;
        case 'A': bo.ca_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!bo.urls || !stream) {
        usage(stderr);
        return 2;
    }
    rc = nxc_bus_connect(&bo, &bus);
    if (!rc)
        rc = nxc_bus_stream_info(bus, stream, &first, &last, &msgs);
    if (rc) {
        fprintf(stderr, "nexus-inspect: %s\n", nxc_error_last());
        nxc_bus_close(bus);
        return 1;
    }
    if (seq < first)
        seq = first;
    for (uint64_t n = 0; n < count && seq <= last; n++) {
        nxc_bus_msg *m = NULL;
        nxc_event ev;
        json_t *line, *body = NULL;
        char *text;

        rc = nxc_bus_stream_get(bus, stream, seq, &m);
        if (rc == NXC_ENOTFOUND)
            break;
        if (rc) {
            fprintf(stderr, "nexus-inspect: seq %" PRIu64 ": %s\n", seq, nxc_error_last());
            bad = 1;
            break;
        }
        if (nxc_event_decode(nxc_bus_msg_data(m), nxc_bus_msg_len(m), &ev) == NXC_OK) {
            nxc_event_to_json(&ev, &body);
            nxc_event_clear(&ev);
        } else {
            body = json_pack("{s:s}", "error", nxc_error_last());
        }
        line =
            json_pack("{s:I,s:I,s:s,s:s?,s:o*}", "seq", (json_int_t)nxc_bus_msg_seq(m), "time_ns",
                      (json_int_t)nxc_bus_msg_time_ns(m), "subject", nxc_bus_msg_subject(m),
                      "msg_id", nxc_bus_msg_header(m, "Nats-Msg-Id"), "event", body);
        text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (text)
            puts(text);
        free(text);
        json_decref(line);
        seq = nxc_bus_msg_seq(m) + 1;
        nxc_bus_msg_free(m);
    }
    nxc_bus_close(bus);
    return bad;
}
