#include "peer_process.h"

#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern "C" {
#include "ts_certs.h"
#include "ts_net.h"
#include "ts_util.h"
}

extern char **environ;

namespace {

// The full path of |program| in PATH, or "".
std::string FindInPath(const std::string &program)
{
    if (program.find('/') != std::string::npos)
        return access(program.c_str(), X_OK) == 0 ? program : "";
    const char *path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;

    while (std::getline(dirs, dir, ':')) {
        std::string full = (dir.empty() ? "." : dir) + "/" + program;
        if (access(full.c_str(), X_OK) == 0)
            return full;
    }
    return "";
}

} // namespace

bool ProgramAvailable(const std::string &program)
{
    return !FindInPath(program).empty();
}

namespace {

// The end of every Missing*() message: how the peer gets installed.
std::string Remedy(const std::string &package)
{
    return " (Debian package " + package
           + "; scripts/install-deps installs the peers the host's tests "
             "run, and the roots of scripts/dev-root have every one)";
}

} // namespace

std::string MissingProgram(const std::string &program,
                           const std::string &package)
{
    if (ProgramAvailable(program))
        return "";
    return program + " is not installed" + Remedy(package);
}

std::string MissingPythonModule(const std::string &module,
                                const std::string &package)
{
    std::string why = MissingProgram("python3", "python3");
    if (!why.empty())
        return why;
    // posix_spawnp(), not system(): no shell to quote for, and it is safe
    // in a process whose other threads (assist threads) hold locks.
    std::string code = "import " + module;
    const char *argv[] = { "python3", "-B", "-c", code.c_str(), nullptr };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    for (int fd = 0; fd <= 2; fd++)
        posix_spawn_file_actions_addopen(&fa, fd, "/dev/null",
                                         fd == 0 ? O_RDONLY : O_WRONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "python3", &fa, nullptr,
                          const_cast<char *const *>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = -1;
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return "";
    return "python3 cannot import " + module + Remedy(package);
}

std::string MissingFile(const std::string &path, const std::string &package)
{
    if (access(path.c_str(), R_OK) == 0)
        return "";
    return path + " is not there" + Remedy(package);
}

bool PeersRequired()
{
    const char *v = std::getenv("TICKLESS_REQUIRE_PEERS");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

bool PeerProcess::Start(const std::vector<std::string> &argv,
                        const std::string &log_dir, bool read_stdout)
{
    // Socket pairs rather than pipes: send(MSG_NOSIGNAL) to a peer that
    // died fails with EPIPE instead of killing the test with SIGPIPE.
    int in[2], out[2];
    std::string exe = FindInPath(argv.at(0));

    if (exe.empty()) {
        error_ = argv[0] + " not found in PATH";
        return false;
    }
    log_path_ = log_dir + "/" + exe.substr(exe.rfind('/') + 1) + "."
                + std::to_string(getpid())
                + "." + std::to_string(ts_now_ns()) + ".log";
    int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0644);
    if (log_fd < 0) {
        error_ = "cannot create " + log_path_ + ": " + std::strerror(errno);
        return false;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
        close(log_fd);
        error_ = std::string("socketpair: ") + std::strerror(errno);
        return false;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) != 0) {
        close(log_fd);
        close(in[0]);
        close(in[1]);
        error_ = std::string("socketpair: ") + std::strerror(errno);
        return false;
    }
    // Everything the child needs is built before fork(): after it, in a
    // process with threads, only async-signal-safe calls are allowed.
    std::vector<char *> args;
    for (const std::string &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    // Our environment, less the names SetEnv() replaces, plus those.
    std::vector<char *> envp;
    for (char **e = environ; *e != nullptr; e++) {
        bool replaced = false;
        for (const std::string &kv : env_)
            replaced = replaced
                       || std::strncmp(*e, kv.c_str(), kv.find('=') + 1) == 0;
        if (!replaced)
            envp.push_back(*e);
    }
    for (const std::string &kv : env_)
        envp.push_back(const_cast<char *>(kv.c_str()));
    envp.push_back(nullptr);
    pid_t parent = getpid();

    pid_t pid = fork();
    if (pid == 0) {
        // The peer must not outlive a test that crashed.
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(in[1], STDIN_FILENO) < 0
            || dup2(read_stdout ? out[1] : log_fd, STDOUT_FILENO) < 0
            || dup2(log_fd, STDERR_FILENO) < 0)
            _exit(127);
        execve(exe.c_str(), args.data(), envp.data());
        _exit(127);
    }
    close(log_fd);
    close(in[1]);
    close(out[1]);
    if (pid < 0) {
        close(in[0]);
        close(out[0]);
        error_ = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    pid_ = pid;
    status_ = -1;
    in_fd_ = in[0];
    out_fd_ = out[0];
    return true;
}

void PeerProcess::SetEnv(const std::string &name, const std::string &value)
{
    for (std::string &kv : env_)
        if (kv.compare(0, name.size() + 1, name + "=") == 0) {
            kv = name + "=" + value;
            return;
        }
    env_.push_back(name + "=" + value);
}

bool PeerProcess::Write(const void *data, size_t len)
{
    const char *p = static_cast<const char *>(data);

    while (len > 0) {
        ssize_t n = send(in_fd_, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

size_t PeerProcess::Read(void *out, size_t len, int timeout_ms)
{
    char *p = static_cast<char *>(out);
    size_t got = 0;
    uint64_t end = ts_now_ns() + (uint64_t)timeout_ms * 1000000u;

    while (got < len) {
        uint64_t now = ts_now_ns();
        if (now >= end)
            break;
        struct pollfd pfd = { out_fd_, POLLIN, 0 };
        int rc = poll(&pfd, 1, (int)((end - now) / 1000000u) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        ssize_t n = read(out_fd_, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; // the peer closed its stdout
        got += (size_t)n;
    }
    return got;
}

bool PeerProcess::ReadLine(std::string *line, int timeout_ms)
{
    uint64_t end = ts_now_ns() + (uint64_t)timeout_ms * 1000000u;

    line->clear();
    for (;;) {
        char ch;
        uint64_t now = ts_now_ns();
        if (now >= end || Read(&ch, 1, (int)((end - now) / 1000000u) + 1) != 1)
            return false;
        if (ch == '\n')
            return true;
        *line += ch;
    }
}

void PeerProcess::CloseStdin()
{
    if (in_fd_ >= 0)
        close(in_fd_);
    in_fd_ = -1;
}

int PeerProcess::Wait(int timeout_ms)
{
    uint64_t end = ts_now_ns() + (uint64_t)timeout_ms * 1000000u;

    if (pid_ <= 0)
        return status_;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            status_ = WIFEXITED(st)     ? WEXITSTATUS(st)
                      : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                        : -1;
            return status_;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (ts_now_ns() >= end)
            return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void PeerProcess::Stop()
{
    CloseStdin();
    if (out_fd_ >= 0)
        close(out_fd_);
    out_fd_ = -1;
    if (pid_ <= 0)
        return;
    kill(pid_, SIGTERM);
    if (Wait(2000) != -1) // 2 s of grace
        return;
    kill(pid_, SIGKILL);
    (void)Wait(60000); // SIGKILL cannot be ignored: at once
}

std::string PeerProcess::LogTail() const
{
    std::ifstream f(log_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

uint16_t FreeUdpPort()
{
    return ts_net_free_port(SOCK_DGRAM);
}

std::string MakeTempDir()
{
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base
                                                                    : "/tmp")
                       + "/tickless-interop.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    return mkdtemp(buf.data()) != nullptr ? std::string(buf.data()) : "";
}

void RemoveTree(const std::string &dir)
{
    if (dir.empty())
        return;
    (void)nftw(
        dir.c_str(),
        [](const char *path, const struct stat *, int, struct FTW *) {
            return remove(path) == 0 ? 0 : 0; // best effort: keep going
        },
        16, FTW_DEPTH | FTW_PHYS);
}

bool PemFiles::Make()
{
    dir = MakeTempDir();
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    return !dir.empty() && ts_write_pem_files(cert.c_str(), key.c_str()) == 0;
}

std::string InteropScript(const std::string &name)
{
    return std::string(TICKLESS_INTEROP_DIR) + "/" + name;
}
