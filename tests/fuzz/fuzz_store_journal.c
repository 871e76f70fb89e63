/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of the result store's journal
 * reader. Inputs starting with 'H', 'E', 'I' or 'C' are taken as lines
 * "<kind> <json>" and given correct CRCs first, so the fuzzer reaches the
 * record parsers instead of stopping at the checksum; other inputs are read
 * raw (torn and corrupt journals). Any bytes either parse into a store
 * whose valid prefix re-parses to the same records, or fail with an error;
 * no crash, no leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static char *with_crcs(const char *in, size_t n, size_t *out_len)
{
    char *out = malloc(n * 2 + 16 * (n + 1) + 1);
    size_t at = 0, o = 0;
    if (!out) return NULL;
    while (at < n) {
        const char *nl = memchr(in + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (in + at)) : n - at;
        if (len >= 2 && in[at + 1] == ' ') {
            o += (size_t)sprintf(out + o, "%c %08x ", in[at],
                                 ab_store_crc32(in + at + 2, len - 2));
            memcpy(out + o, in + at + 2, len - 2);
            o += len - 2;
        } else {
            memcpy(out + o, in + at, len);
            o += len;
        }
        if (nl) out[o++] = '\n';
        at += len + (nl ? 1 : 0);
    }
    *out_len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ab_store *st = NULL, *again = NULL;
    size_t valid = 0, valid2 = 0, len = size;
    char *text = NULL;
    const char *in = (const char *)data;
    if (size && strchr("HEIC", data[0])) {
        text = with_crcs(in, size, &len);
        if (!text) return 0;
        in = text;
    }
    if (ab_store_parse_journal(in, len, "fuzz.journal", &st, &valid) == AB_OK) {
        if (valid > len) abort();
        if (ab_store_parse_journal(in, valid, "fuzz.journal", &again, &valid2) != AB_OK ||
            valid2 != valid || again->n != st->n || again->n_iter != st->n_iter)
            abort();
        for (long i = 0; i < st->n; i++)
            if (ab_store_find(st, st->ev[i].hash) != i) abort();
    }
    ab_store_close(&again);
    ab_store_close(&st);
    free(text);
    return 0;
}
