// A peer that tickless did not write (openssl s_server/s_client, gnutls-serv,
// gnutls-cli, the aioquic scripts of tests/interop), run as a child process
// with its stdin and stdout on pipes.
//
// The command-line peers print what they receive on stdout and send what
// they read on stdin, so a test talks to the peer's TLS stack through these
// pipes: bytes a tickless connection wrote must come out of the peer's
// stdout, bytes pushed into its stdin must reach the tickless reader.
#ifndef TICKLESS_TESTS_PEER_PROCESS_H
#define TICKLESS_TESTS_PEER_PROCESS_H

#include <gtest/gtest.h>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

class PeerProcess {
public:
    PeerProcess() = default;
    PeerProcess(const PeerProcess &) = delete;
    PeerProcess &operator=(const PeerProcess &) = delete;
    ~PeerProcess() { Stop(); }

    // Starts argv[0] (looked up in PATH) with |argv|; stderr goes to a
    // file in |log_dir| so that a failing test can show what the peer said
    // (LogTail()). Without |read_stdout| the peer's stdout goes there too:
    // a pipe nobody reads fills up and would stop a talkative peer.
    // Returns false with a reason in Error().
    bool Start(const std::vector<std::string> &argv, const std::string &log_dir,
               bool read_stdout = true);

    // Sets NAME=value in the environment of the next Start() (on top of
    // this process's own), e.g. PYTHONPATH for a Python peer.
    void SetEnv(const std::string &name, const std::string &value);

    // Writes all of |data| to the peer's stdin (false if the peer is gone).
    bool Write(const void *data, size_t len);

    // Reads exactly |len| bytes of the peer's stdout into |out|, waiting at
    // most |timeout_ms| in all. Returns the number read (less on timeout or
    // end of output).
    size_t Read(void *out, size_t len, int timeout_ms);

    // Reads one line of the peer's stdout (without its newline) into
    // |line|, waiting at most |timeout_ms|. False on timeout or end of
    // output. Reads byte by byte, so nothing after the line is consumed:
    // for short lines such as a port number the peer announces.
    bool ReadLine(std::string *line, int timeout_ms);

    // Closes the peer's stdin: a peer that stops at end of input does.
    void CloseStdin();

    // Waits at most |timeout_ms| for the peer to exit by itself and reaps
    // it. Returns its exit status (0-255), 128 + N if signal N ended it,
    // or -1 if it is still running (it is left running) or was never
    // started. Once reaped, later calls return the same status.
    int Wait(int timeout_ms);

    // True while the peer has not exited (reaps it if it has).
    bool Running() { return Wait(0) == -1 && pid_ > 0; }

    // Kills the peer (SIGTERM, then SIGKILL after a grace period) and reaps
    // it. Safe to call twice.
    void Stop();

    // The last lines of the peer's stderr, for failure messages.
    std::string LogTail() const;

    const std::string &Error() const { return error_; }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;  // -1 once reaped
    int status_ = -1; // Wait()'s answer once reaped
    int in_fd_ = -1;  // the peer's stdin, our end
    int out_fd_ = -1; // the peer's stdout, our end
    std::string log_path_;
    std::string error_;
    std::vector<std::string> env_; // NAME=value, for the next Start()
};

// True if |program| is found in PATH (a peer this machine can run).
bool ProgramAvailable(const std::string &program);

// ---- a peer that is missing: skip, or fail --------------------------------
// A developer's machine may lack some peers, and a test that needs one
// then skips. scripts/test, the CI, installs every peer on the host and in
// each root and sets TICKLESS_REQUIRE_PEERS=1: there a missing peer is a
// failure, or a broken install would pass with its interop tests unrun.
// Each Missing*() returns "" when the peer is there, else the message both
// cases give: what is missing, its Debian package, where it comes from.

// |program| in PATH, from Debian package |package|.
std::string MissingProgram(const std::string &program,
                           const std::string &package);

// python3 (itself checked first) can import |module|, from |package|.
// Runs python3 once: a fraction of a second.
std::string MissingPythonModule(const std::string &module,
                                const std::string &package);

// The file |path|, shipped by |package|.
std::string MissingFile(const std::string &path, const std::string &package);

// True when TICKLESS_REQUIRE_PEERS is "1".
bool PeersRequired();

// NEED_PEER(MissingProgram("openssl", "openssl")): unless the message is
// "", fails the test with it (PeersRequired()) or skips the test with it.
// Either way it returns from the function it is in, as GTEST_SKIP() does:
// say it in a test body or in SetUp(), before anything is started.
#define NEED_PEER(missing)                                                    \
    do {                                                                      \
        const std::string need_peer_why = (missing);                          \
        if (!need_peer_why.empty()) {                                         \
            if (PeersRequired())                                              \
                GTEST_FAIL() << need_peer_why;                                \
            GTEST_SKIP() << need_peer_why;                                    \
        }                                                                     \
    } while (0)

// A UDP port that was free a moment ago on every address, for a peer that
// must be told where to listen, from a part of the ephemeral range our own
// UDP clients never take (ts_net_free_port()).
uint16_t FreeUdpPort();

// A fresh directory under TMPDIR (or /tmp) that the caller removes with
// RemoveTree(); "" on failure.
std::string MakeTempDir();
void RemoveTree(const std::string &dir);

// The process's generated certificate and key (tests/support ts_certs,
// which tickless clients trust) as PEM files in a fresh directory, for
// peers that read them from disk; the peers' logs go there too. The
// directory goes with the object.
struct PemFiles {
    std::string dir, cert, key;

    bool Make();
    ~PemFiles() { RemoveTree(dir); }
};

// The path of |name| in tests/interop (the aioquic peers and their ASGI
// application).
std::string InteropScript(const std::string &name);

#endif
