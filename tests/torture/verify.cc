/*
 * verify: what the peer received against what the writers were told, and
 * what the readers got against what the peer sent. Runs once per
 * incarnation, after the connection is closed and the peer has stopped.
 *
 * Writes, stream protocols. The peer's bytes must decompose into pieces,
 * each exactly the credited bytes of one write call (a call's bytes stay
 * together: the strict reading of concurrent writes), each writer's calls
 * in order, no byte twice, no byte nobody was told written. If the
 * connection ended gracefully (the peer read close_notify), every credited
 * byte must be there; otherwise the stream may stop anywhere.
 *
 * Writes, DTLS: each datagram is exactly the bytes of one call that was
 * credited with all of them, at most once; datagrams may be lost.
 *
 * Reads: the pieces all readers got tile a prefix of the peer's stream: no
 * gap, no overlap (each piece was checked against the stream when read).
 *
 * Stalls, TLS: no write may be in progress through a second in which the
 * peer was reading without a pause and received nothing, before the
 * connection's close began.
 */
#include <algorithm>
#include <cstdlib>
#include <cinttypes>
#include <cstdio>
#include <map>

#include "call.h"
#include "conn.h"
#include "pattern.h"
#include "report.h"

namespace torture {

namespace {

/* One object's writes against what the peer received of it: the
 * connection's only stream, or one QUIC stream. */
struct WView {
    const std::vector<WriteCall> &writes;
    const std::vector<uint8_t> &rx;
    uint64_t key;
    std::string label; /* "conn 1.2 (client)", "conn 1.2 stream 4" */
};

/* What the bytes at |at| are, for the failure message: the call (any
 * writer, credited or not) whose pattern they match, where, and what that
 * says about the library, given what each writer's next piece should be. */
std::string identify(const WView &v, const std::vector<uint8_t> &rx,
                     size_t at, const std::map<unsigned, const WriteCall *> &expect)
{
    size_t n = std::min<size_t>(16, rx.size() - at);
    for (const WriteCall &c : v.writes)
        for (uint64_t o = c.off; o + n <= c.off + c.len; o++) {
            if (writer_match(rx.data() + at, n, v.key, c.w, c.seq, o) != n)
                continue;
            size_t run = writer_match(rx.data() + at, rx.size() - at, v.key,
                                      c.w, c.seq, o);
            if (o + run > c.off + c.len)
                run = (size_t)(c.off + c.len - o);
            const char *why = "";
            auto e = expect.find(c.w);
            const WriteCall *x = e == expect.end() ? nullptr : e->second;
            if (o >= c.off + c.nw)
                why = "bytes the call was NOT credited with (told they were "
                      "not written, yet they were sent)";
            else if (x != nullptr && x->seq == c.seq && o == c.off)
                why = "the expected call, but its credited bytes are not "
                      "contiguous here: another call's bytes came in between "
                      "(a write call's bytes were interleaved)";
            else if (x != nullptr && x->seq == c.seq)
                why = "the expected call's bytes, but not from its start: the "
                      "start arrived elsewhere (interleaved or reordered)";
            else if (x != nullptr && c.seq < x->seq)
                why = "an earlier call's bytes, again or late";
            else if (x != nullptr)
                why = "a later call's bytes before this writer's next piece "
                      "(bytes lost or out of order)";
            char s[400];
            snprintf(s, sizeof(s),
                     "they are writer %u call %u's bytes at offset %" PRIu64
                     ", %zu of them in a row (call wrote [%" PRIu64 ", +%zu), "
                     "credited %zu, returned %s): %s",
                     c.w, c.seq, o, run, c.off, c.len, c.nw,
                     c.rc == 0 ? "0" : tickless_err_name(c.rc), why);
            return s;
        }
    return "they match no write call's bytes";
}

/* The per-writer reading, looser than call atomicity: whatever the
 * interleaving, writer w's bytes, in the order they arrived, must be
 * exactly its credited stream (a prefix of it after an abrupt end).
 * Returns "" or what broke it. A failure of this one is a library bug
 * whatever one thinks concurrent writes should promise. */
std::string per_writer_check(const WView &v,
                             std::map<unsigned, std::vector<const WriteCall *>> &by_writer,
                             bool complete)
{
    const std::vector<uint8_t> &rx = v.rx;
    std::map<unsigned, std::pair<size_t, uint64_t>> pos; /* call index, offset */
    for (auto &kv : by_writer)
        pos[kv.first] = {0, kv.second.empty() ? 0 : kv.second[0]->off};
    size_t at = 0;
    while (at < rx.size()) {
        unsigned best = 0;
        size_t best_m = 0;
        for (auto &kv : by_writer) {
            auto [i, o] = pos[kv.first];
            size_t m = 0;
            /* Extend over the writer's successive credited calls. */
            while (i < kv.second.size() && at + m < rx.size()) {
                const WriteCall *c = kv.second[i];
                size_t want = (size_t)(c->off + c->nw - o);
                size_t got = writer_match(rx.data() + at + m,
                                          std::min(want, rx.size() - at - m),
                                          v.key, c->w, c->seq, o);
                m += got;
                if (got < want)
                    break;
                if (++i < kv.second.size())
                    o = kv.second[i]->off;
            }
            if (m > best_m) {
                best_m = m;
                best = kv.first;
            }
        }
        if (best_m == 0) {
            char s[160];
            snprintf(s, sizeof(s), "per writer too: byte %zu belongs to no "
                     "writer's next credited bytes", at);
            return s;
        }
        /* Advance |best| by best_m bytes. */
        auto &[i, o] = pos[best];
        size_t left = best_m;
        while (left > 0) {
            const WriteCall *c = by_writer[best][i];
            size_t room = (size_t)(c->off + c->nw - o);
            size_t k = std::min(room, left);
            o += k;
            left -= k;
            if (o == c->off + c->nw && ++i < by_writer[best].size())
                o = by_writer[best][i]->off;
        }
        at += best_m;
    }
    if (complete)
        for (auto &kv : by_writer)
            if (pos[kv.first].first < kv.second.size())
                return "per writer too: credited bytes missing after close_notify";
    return "";
}

/* |complete|: the peer read to the end (close_notify, FIN), so every
 * credited byte must be there. */
void verify_writes(const WView &v, bool complete)
{
    const std::vector<uint8_t> &rx = v.rx;
    /* Each writer's credited calls, in order. */
    std::map<unsigned, std::vector<const WriteCall *>> by_writer;
    for (const WriteCall &c : v.writes)
        if (c.nw > 0)
            by_writer[c.w].push_back(&c);
    for (auto &kv : by_writer)
        std::sort(kv.second.begin(), kv.second.end(),
                  [](const WriteCall *a, const WriteCall *b) { return a->seq < b->seq; });
    std::map<unsigned, size_t> next;

    /* Greedy, with a bounded backtrack in case two writers' next pieces
     * both match (only possible for pieces of a few bytes). */
    struct Choice {
        size_t at;
        std::map<unsigned, size_t> next;
        std::vector<unsigned> rest;
    };
    std::vector<Choice> stack;
    size_t at = 0;
    long steps = 0;
    while (at < rx.size()) {
        std::vector<unsigned> cand;
        for (auto &kv : by_writer) {
            size_t i = next[kv.first];
            if (i >= kv.second.size())
                continue;
            const WriteCall *c = kv.second[i];
            size_t n = std::min(c->nw, rx.size() - at);
            /* A piece cut by the end of the stream only if it may be. */
            if (n < c->nw && complete)
                continue;
            if (writer_match(rx.data() + at, n, v.key, c->w, c->seq, c->off) == n)
                cand.push_back(kv.first);
        }
        if (!cand.empty() && ++steps < 1000000) {
            if (cand.size() > 1)
                stack.push_back(Choice{at, next, {cand.begin() + 1, cand.end()}});
            const WriteCall *c = by_writer[cand[0]][next[cand[0]]];
            at += c->nw;
            next[cand[0]]++;
            continue;
        }
        if (!stack.empty() && steps < 1000000) { /* backtrack */
            Choice &ch = stack.back();
            unsigned w = ch.rest.back();
            ch.rest.pop_back();
            at = ch.at;
            next = ch.next;
            if (ch.rest.empty())
                stack.pop_back();
            const WriteCall *c = by_writer[w][next[w]];
            at += c->nw;
            next[w]++;
            continue;
        }
        std::string expect;
        std::map<unsigned, const WriteCall *> nexts;
        for (auto &kv : by_writer) {
            size_t i = next[kv.first];
            if (i < kv.second.size()) {
                const WriteCall *c = kv.second[i];
                nexts[kv.first] = c;
                char s[128];
                snprintf(s, sizeof(s), "%swriter %u call %u [%" PRIu64 ", +%zu)",
                         expect.empty() ? "" : " or ", c->w, c->seq, c->off, c->nw);
                expect += s;
            }
        }
        std::string loose = per_writer_check(v, by_writer, complete);
        fail("%s: byte %zu of %zu the peer received is not the "
             "start of any writer's next credited piece (expected %s); %s [%s]",
             v.label.c_str(), at,
             rx.size(), expect.empty() ? "nothing more" : expect.c_str(),
             identify(v, rx, at, nexts).c_str(),
             loose.empty() ? "each writer's own bytes are intact: only the "
                             "calls' atomicity is broken"
                           : loose.c_str());
        return;
    }
    if (!complete)
        return;
    for (auto &kv : by_writer)
        if (next[kv.first] < kv.second.size()) {
            const WriteCall *c = kv.second[next[kv.first]];
            fail("%s: the peer read to the end (close_notify, FIN) but writer "
                 "%u's credited bytes from offset %" PRIu64 " (call %u, "
                 "credited %zu of %zu, returned %s) never arrived",
                 v.label.c_str(), c->w, c->off, c->seq, c->nw, c->len,
                 c->rc == 0 ? "0" : tickless_err_name(c->rc));
            return;
        }
}

void verify_dgram_writes(Incarnation *inc)
{
    std::map<size_t, std::vector<const WriteCall *>> by_len;
    for (const WriteCall &c : inc->writes)
        by_len[c.len].push_back(&c);
    std::map<const WriteCall *, int> seen;
    for (const std::vector<uint8_t> &d : inc->peer.dgrams) {
        const WriteCall *hit = nullptr;
        for (const WriteCall *c : by_len[d.size()])
            if (writer_match(d.data(), d.size(), inc->key_w, c->w, c->seq, 0) == d.size()) {
                hit = c;
                break;
            }
        if (hit == nullptr) {
            fail("conn %d.%d: the peer received a datagram of %zu bytes that "
                 "is no write call's whole message", inc->slot, inc->index, d.size());
            return;
        }
        if (hit->nw != hit->len)
            fail("conn %d.%d: writer %u call %u was credited %zu of %zu bytes "
                 "(%s) but its datagram arrived", inc->slot, inc->index, hit->w,
                 hit->seq, hit->nw, hit->len, tickless_err_name(hit->rc));
        if (++seen[hit] == 2)
            fail("conn %d.%d: writer %u call %u's datagram arrived twice",
                 inc->slot, inc->index, hit->w, hit->seq);
    }
}

/* Returns the bytes the reads tiled (all of them, if no check failed). */
uint64_t verify_reads(const std::vector<ReadPiece> &reads, uint64_t key,
                      const std::string &label)
{
    std::vector<std::pair<uint64_t, size_t>> placed;
    std::vector<const ReadPiece *> small;
    uint64_t total = 0;
    for (const ReadPiece &p : reads) {
        total += p.len;
        if (p.off != UINT64_MAX)
            placed.emplace_back(p.off, p.len);
        else
            small.push_back(&p);
    }
    std::sort(placed.begin(), placed.end());
    /* Fill gaps with the short pieces, lowest gap first. */
    uint64_t at = 0;
    size_t i = 0;
    std::vector<bool> used(small.size(), false);
    while (at < total) {
        if (i < placed.size() && placed[i].first == at) {
            at += placed[i].second;
            i++;
            continue;
        }
        if (i < placed.size() && placed[i].first < at) {
            fail("%s: two reads returned the same peer bytes at "
                 "offset %" PRIu64, label.c_str(), placed[i].first);
            return at;
        }
        bool fit = false;
        for (size_t k = 0; k < small.size() && !fit; k++)
            if (!used[k]
                && stream_is_at(small[k]->bytes.data(), small[k]->len, key, at)) {
                used[k] = true;
                at += small[k]->len;
                fit = true;
            }
        if (!fit) {
            fail("%s: reads returned %" PRIu64 " bytes in all, but "
                 "peer stream byte %" PRIu64 " was returned by none (a gap)",
                 label.c_str(), total, at);
            return at;
        }
    }
    return total;
}

/* Stream mode: each stream as a connection is checked above, and the
 * calls on it against what the peer and our own workers did to it:
 *  - a read blocked when the peer reset its sending part (RESET_STREAM),
 *    a write blocked when it stopped ours (STOP_SENDING), returns within
 *    2 s of it; one that starts 2 s after it does not time out;
 *  - after our conclude or reset returned 0, a write that starts fails
 *    and writes nothing; one in progress returns within 2 s of it. */
void verify_streams(Incarnation *inc)
{
    const uint64_t prompt = slack_ns(inc->cfg, 2000);
    const PeerStream none;
    for (auto &ep : inc->streams) {
        const StreamEntry &e = *ep;
        if (e.id == UINT64_MAX)
            continue;
        char label[96];
        snprintf(label, sizeof(label), "conn %d.%d stream %" PRIu64 " (%s%s)",
                 inc->slot, inc->index, e.id, e.local ? "ours" : "the peer's",
                 (e.id & 2) ? ", uni" : "");
        auto it = inc->peer.streams.find(e.id);
        const PeerStream &p = it == inc->peer.streams.end() ? none : it->second;
        auto ms = [](uint64_t a, uint64_t b) { return ((double)a - (double)b) / 1e6; };
        count(C_STREAMS);
        {
            const uint64_t block = 100000000ull;
            bool r_at = false, w_at = false;
            for (const StreamCall &c : e.calls) {
                if (c.write && c.t1 - c.t0 >= block) {
                    count(C_BLOCKED_WRITES);
                    if (getenv("TORTURE_DEBUG_CPU"))
                        note("%s: blocked write %.0f ms, %.0f ms CPU, len %zu rc %s",
                             label, ms(c.t1, c.t0), (double)c.cpu_ns / 1e6, c.len,
                             rc_name(c.rc));
                    for (const StreamCall &o : e.calls)
                        if (&o != &c && o.write && o.t1 - o.t0 >= block
                            && o.t0 < c.t1 && c.t0 < o.t1) {
                            count(C_MULTI_BLOCKED);
                            break;
                        }
                }
                if (!c.write && p.rst_ns && c.t0 < p.rst_ns && c.t1 > p.rst_ns)
                    r_at = true, count(C_RESET_READS);
                if (c.write && p.stop_ns && c.t0 < p.stop_ns && c.t1 > p.stop_ns)
                    w_at = true, count(C_STOP_WRITES);
                if (c.write && e.ended_t1 && c.t0 < e.ended_t0 && c.t1 > e.ended_t0)
                    count(C_ENDS_UNDER_WRITE);
            }
            if (r_at && w_at && p.victim && p.victim_kind == 0) {
                count(C_RESET_BOTH);
                if (getenv("TORTURE_DEBUG_CPU"))
                    for (const StreamCall &c : e.calls)
                        if (c.t1 + 3000000000ull > p.rst_ns && c.t0 < p.rst_ns + 3000000000ull)
                            note("%s both: %s w%d t0 %+.0f t1 %+.0f rc %s n %zu timeout %d cpu %.0f",
                                 label, c.write ? "write" : "read", c.worker,
                                 ms(c.t0, p.rst_ns), ms(c.t1, p.rst_ns), rc_name(c.rc),
                                 c.n, c.timeout, (double)c.cpu_ns / 1e6);
            }
        }
        if (e.can_write)
            verify_writes(WView{e.writes, p.rx, e.key_w, label}, p.got_fin);
        if (e.can_read) {
            uint64_t got = verify_reads(e.reads, e.key_rx, label);
            if (got > p.tx_off)
                fail("%s: reads returned %" PRIu64 " bytes, the peer sent %" PRIu64,
                     label, got, p.tx_off);
            else if (e.read_eof && (!p.concluded || got != p.tx_off))
                fail("%s: a read returned TICKLESS_ERR_EOF, but the reads got "
                     "%" PRIu64 " bytes of the %" PRIu64 " the peer sent%s", label,
                     got, p.tx_off, p.concluded ? " before its FIN" : " (it sent no FIN)");
        }
        for (uint64_t c : e.peer_codes)
            if ((c != 0 && c != p.aec) || (c == p.aec && p.rst_ns == 0)) {
                fail("%s: tickless_stream_peer_error gave 1 with %" PRIu64 "; the "
                     "peer sent RESET_STREAM %" PRIu64 "%s, and STOP_SENDING only "
                     "with code 0%s", label, c, p.aec, p.rst_ns ? "" : " never",
                     e.ended_by_reset ? " (we had reset its sending part "
                                        "ourselves, with 119)" : "");
                break; /* once per stream */
            }
        for (const StreamCall &c : e.calls) {
            char what[160];
            snprintf(what, sizeof(what), "%s by worker %d (len %zu, timeout %d) = "
                     "%s with %zu bytes, after %.0f ms", c.write ? "write" : "read",
                     c.worker, c.len, c.timeout, rc_name(c.rc), c.n, ms(c.t1, c.t0));
            /* Our own end of the sending side. */
            bool ours_ended = c.write && e.ended_t1 != 0;
            bool first_fatal = (c.rc == TICKLESS_ERR_PEER || c.rc == TICKLESS_ERR_SSL
                                || c.rc == TICKLESS_ERR_SYS)
                               && c.t1 <= inc->first_fatal_ns;
            if (ours_ended && c.t0 > e.ended_t1
                && (c.rc == 0 || c.rc == TICKLESS_ERR_TIMEOUT || c.n > 0
                    || first_fatal))
                fail("%s: a %s that started %.1f ms after our "
                     "tickless_stream_%s() had returned 0 on it: the direction "
                     "is ended, so it must fail (TICKLESS_ERR_CLOSED) without "
                     "writing%s", label, what, ms(c.t0, e.ended_t1),
                     e.ended_by_reset ? "reset" : "conclude",
                     first_fatal ? "; instead the connection failed with this "
                                   "call (no call had found it failed before)" : "");
            if (ours_ended && c.t0 <= e.ended_t1 && c.t1 >= e.ended_t0 && first_fatal)
                fail("%s: a %s overlapped our tickless_stream_%s() on it "
                     "(which returned 0) and failed the whole connection: "
                     "no call had found it failed before, and the header "
                     "keeps a stream's end to that stream "
                     "(TICKLESS_ERR_CLOSED for its writers)", label, what,
                     e.ended_by_reset ? "reset" : "conclude");
            if (ours_ended && c.t0 < e.ended_t0 && c.t1 > e.ended_t1 + prompt)
                fail("%s: a %s was in progress when our tickless_stream_%s() "
                     "on it returned 0 (%.0f ms into the call) and returned "
                     "only %.0f ms after that: nothing woke it", label, what,
                     e.ended_by_reset ? "reset" : "conclude", ms(e.ended_t1, c.t0),
                     ms(c.t1, e.ended_t1));
            /* CLOSED is for what we did: the stream's or the connection's
             * close, or (writes; reads too, leniently) our conclude or
             * reset. Anything else, the peer's RESET_STREAM or STOP_SENDING
             * above all, must say so (TICKLESS_ERR_STREAM_RESET). */
            uint64_t local_end = UINT64_MAX;
            if (e.close_ns != 0)
                local_end = e.close_ns;
            if (inc->close_begin_ns != 0 && inc->close_begin_ns < local_end)
                local_end = inc->close_begin_ns;
            if (e.ended_t0 != 0 && e.ended_t0 < local_end)
                local_end = e.ended_t0;
            if (inc->shutdown_ns != 0 && inc->shutdown_ns < local_end)
                local_end = inc->shutdown_ns;
            if (c.rc == TICKLESS_ERR_CLOSED && c.t1 < local_end)
                fail("%s: a %s returned TICKLESS_ERR_CLOSED though nothing of "
                     "ours had ended the stream or the connection%s", label, what,
                     c.write && p.stop_ns && c.t1 > p.stop_ns
                         ? (p.rst_ns ? "; the peer had sent RESET_STREAM and "
                                       "STOP_SENDING at once, for which the "
                                       "header promises TICKLESS_ERR_STREAM_RESET"
                                     : "; the peer had sent STOP_SENDING (after "
                                       "its FIN), for which the header promises "
                                       "TICKLESS_ERR_STREAM_RESET")
                     : !c.write && p.rst_ns && c.t1 > p.rst_ns
                         ? "; the peer had sent RESET_STREAM, for which the "
                           "header promises TICKLESS_ERR_STREAM_RESET"
                         : "");
            /* The peer's RESET_STREAM (reads) and STOP_SENDING (writes). A
             * write whose stream we ended first is the rule above's. */
            uint64_t T = c.write ? p.stop_ns : p.rst_ns;
            if (T == 0 || (c.write && e.ended_t0 != 0 && e.ended_t0 < c.t1))
                continue;
            const char *frame = c.write ? "STOP_SENDING" : "RESET_STREAM";
            if (c.t0 < T && c.t1 > T + prompt)
                fail("%s: a %s was blocked when the peer sent %s%s (%.0f ms into "
                     "the call) and returned only %.0f ms after it: the header "
                     "promises TICKLESS_ERR_STREAM_RESET", label, what, frame,
                     p.rst_ns && p.stop_ns ? " (RESET_STREAM and STOP_SENDING at once)" : "",
                     ms(T, c.t0), ms(c.t1, T));
            else if (c.t0 < T && c.t1 > T
                     && (c.rc == TICKLESS_ERR_EOF
                         || ((c.rc == TICKLESS_ERR_SSL || c.rc == TICKLESS_ERR_PEER)
                             && c.t1 <= inc->first_fatal_ns)))
                fail("%s: a %s was blocked when the peer sent %s%s (%.0f ms into "
                     "the call) and got %s %.0f ms after it: the header promises "
                     "TICKLESS_ERR_STREAM_RESET (and the stream's end stays on "
                     "that stream)", label, what, frame,
                     p.rst_ns && p.stop_ns ? " (RESET_STREAM and STOP_SENDING at once)" : "",
                     ms(T, c.t0), rc_name(c.rc), ms(c.t1, T));
            else if (c.t0 > T + prompt
                     && (c.rc == TICKLESS_ERR_TIMEOUT || (c.write && c.rc == 0)))
                fail("%s: a %s that started %.0f ms after the peer's %s: the "
                     "stream is %s, it must fail (TICKLESS_ERR_STREAM_RESET)",
                     label, what, ms(c.t0, T), frame, c.write ? "stopped" : "reset");
        }
    }
}

/* A TLS write was in progress through a second (or more) in which the peer
 * was reading without a pause and received nothing: nobody was sending for
 * it. Nothing else can hold a write back once the peer reads (a lock
 * section lasts 20 ms at most); only the spells before the close began
 * count, as a close inside a lock section holds the mutex while it waits
 * for the other workers to be inside the library. Checked here, once the
 * peer's record is complete: at the write's return the spell it sat
 * through may not have ended yet (the peer reads the write's last bytes
 * only after the call returned), or may have ended in a read pause. */
void verify_write_stalls(Incarnation *inc, const char *label)
{
    uint64_t win = slack_ns(inc->cfg, 1000);
    uint64_t cut = inc->close_begin_ns ? inc->close_begin_ns.load() : UINT64_MAX;
    for (const LongWrite &w : inc->long_writes) {
        uint64_t from = 0;
        uint64_t q = inc->peer.quiet_overlap(w.t0, std::min(w.t1, cut), &from);
        if (q < win)
            continue;
        fail("%s: a write (writer %d, %zu bytes, %s with %zu written after "
             "%.0f ms) was in progress through %.1f s (from %.0f ms into the "
             "call) in which the peer was reading and received nothing: "
             "nobody sent for it", label, w.worker, w.len, rc_name(w.rc), w.nw,
             (double)(w.t1 - w.t0) / 1e6, (double)q / 1e9,
             (double)(from - w.t0) / 1e6);
        /* What else was going on, in ms from the write's start. */
        auto ms = [&](uint64_t t) { return ((double)t - (double)w.t0) / 1e6; };
        note("%s: %s, peer tx_mode %d; close began at %.0f ms; the calls "
             "that overlapped the quiet spell:", label,
             inc->duplex ? "duplex" : "not duplex", inc->peer.tx_mode,
             inc->close_begin_ns ? ms(inc->close_begin_ns) : -1.0);
        int n = 0;
        for (const CallRec &c : inc->calls)
            if (c.t1 > from && c.t0 < from + q && n++ < 30)
                note("  worker %d %s(timeout %d) [%.0f, %.0f] ms = %s", c.worker,
                     c.fn, c.timeout, ms(c.t0), ms(c.t1), rc_name(c.rc));
        return; /* one is enough */
    }
}

} // namespace

void verify_incarnation(Incarnation *inc)
{
    char label[64];
    snprintf(label, sizeof(label), "conn %d.%d (%s)", inc->slot, inc->index,
             inc->server_role ? "server" : "client");
    if (inc->cfg.proto == Proto::DTLS) {
        verify_dgram_writes(inc);
    } else if (inc->cfg.proto == Proto::STREAM) {
        verify_streams(inc);
    } else {
        verify_writes(WView{inc->writes, inc->peer.rx, inc->key_w, label},
                      inc->peer.got_eof);
        verify_reads(inc->reads, inc->peer.key_tx, label);
        if (inc->cfg.proto == Proto::TLS)
            verify_write_stalls(inc, label);
    }
}

} // namespace torture
