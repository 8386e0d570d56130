// examples/fleet_grpc: errors, deadlines and cancellation across machines over gRPC.
//
// Three processes: the user's client (this program, run without arguments), a
// front service the client calls, and a storage service the front calls. Each
// server runs its handlers through strata::grpc_serve; the front calls storage
// with strata::grpc_call inside a with_timeout. A failure in storage comes back
// to the front as storage's error (storage trusts the front with all of it),
// the front wraps it in a layer of its own, and the user gets the front's
// message and one ID, which finds storage's record and the front's. The user's
// lines go to stdout; every process's records to stderr.
//
//   fleet_grpc                     the user's client: starts the two services, shows four carts
//   fleet_grpc --storage           the storage service (prints its port)
//   fleet_grpc --front PORT        the front service, calling storage on PORT (prints its port)
#include <strata/grpc.hpp>
#include <strata/strata.hpp>

#include <grpcpp/grpcpp.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet.grpc.pb.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;

// ---- storage ------------------------------------------------------------------

// A raw failure at storage's boundary: a bug.
struct disk {
    static constexpr std::string_view name = "disk";
};

// A known edge case, and what it is across an RPC.
struct catalog {
    static constexpr std::string_view name = "catalog";
    static constexpr bool user_facing = true;
    static constexpr int grpc_code = 5;  // NOT_FOUND
};

strata::result<void> load_cart(int cart, fleet::CartReply& reply, std::stop_token stop) {
    switch (cart) {
        case 1:
            reply.add_items("sku-1001");
            reply.add_items("sku-2002");
            return {};
        case 2:
            return strata::wrap<disk>(std::error_code(EIO, std::generic_category()), "read cart page {}", 17)
                .with("device", "/dev/nvme0n1");
        case 3: return strata::make_error<catalog>("item sku-9 was discontinued").with("cart", cart);
        default:
            // Slow: works until the front's deadline stops it.
            while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
            return strata::canceled_by(stop, "loading cart {} was abandoned", cart);
    }
}

class storage_service final : public fleet::Storage::Service {
public:
    grpc::Status LoadCart(grpc::ServerContext* ctx, const fleet::CartRequest* req, fleet::CartReply* reply) override {
        return strata::grpc_serve(
            *ctx, [&](std::stop_token stop) { return load_cart(req->cart(), *reply, stop); },
            {.status = {.trusted_peer = true}});  // the front is ours: it gets the whole error
    }
};

// ---- front --------------------------------------------------------------------

// The front's own layer: what its users are told.
struct cart_view {
    static constexpr std::string_view name = "cart_view";
    static constexpr bool user_facing = true;
};

class front_service final : public fleet::Front::Service {
public:
    explicit front_service(const std::string& storage_address)
        : storage_(fleet::Storage::NewStub(grpc::CreateChannel(storage_address, grpc::InsecureChannelCredentials()))) {}

    grpc::Status ShowCart(grpc::ServerContext* ctx, const fleet::CartRequest* req, fleet::CartReply* reply) override {
        // Users are not trusted: they get the message and the ID, nothing internal.
        return strata::grpc_serve(*ctx, [&](std::stop_token) -> strata::result<void> {
            const strata::result<void> r =
                strata::with_timeout(1s, {.operation = "load the cart"}, [&](std::stop_token) {
                    grpc::ClientContext call;  // gets the 1 s deadline, and is canceled if the work stops
                    return strata::grpc_call(
                        call, [&](grpc::ClientContext& c) { return storage_->LoadCart(&c, *req, reply); },
                        {.operation = "storage.LoadCart"});
                });
            if (!r) return strata::wrap<cart_view>(r.error(), "cart {} can't be shown right now", req->cart());
            return {};
        });
    }

private:
    std::unique_ptr<fleet::Storage::Stub> storage_;
};

// Serves `svc` on 127.0.0.1, prints the port, and serves until stdin closes.
int serve(grpc::Service* svc) {
    int port = 0;
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(svc);
    const std::unique_ptr<grpc::Server> server = b.BuildAndStart();
    if (!server || port == 0) {
        std::fprintf(stderr, "fleet_grpc: could not listen on 127.0.0.1\n");
        return 1;
    }
    std::printf("%d\n", port);
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    server->Shutdown(std::chrono::system_clock::now() + 5s);
    return 0;
}

// ---- the user's client ------------------------------------------------------------

struct child {
    pid_t pid = -1;
    int in = -1;   // its stdin: closing it stops it
    int port = 0;  // the port it printed
};

// Starts `self args...` with pipes on its stdin and stdout, and reads its port.
strata::result<child> start(const char* self, std::vector<std::string> args) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0)
        return strata::wrap<strata::low_level>(std::error_code(errno, std::generic_category()), "pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    for (int fd : {in[0], in[1], out[0], out[1]}) posix_spawn_file_actions_addclose(&actions, fd);
    std::vector<char*> argv{const_cast<char*>(self)};
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    child c;
    const int rc = ::posix_spawn(&c.pid, self, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        return strata::wrap<strata::low_level>(std::error_code(rc, std::generic_category()), "start {}", args[0]);
    }
    c.in = in[1];
    std::string text;
    char ch = 0;
    while (::read(out[0], &ch, 1) == 1 && ch != '\n') text += ch;
    ::close(out[0]);
    c.port = std::atoi(text.c_str());
    if (c.port <= 0) return strata::make_error<strata::low_level>("{} printed no port: {:?}", args[0], text);
    return c;
}

void stop(child& c) {
    if (c.pid < 0) return;
    ::close(c.in);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
}

int run_user(const char* self) {
    strata::result<child> storage = start(self, {"--storage"});
    if (!storage) {
        fmt::print("{}\n", strata::handle(storage.error()));
        return 1;
    }
    strata::result<child> front = start(self, {"--front", std::to_string(storage->port)});
    if (!front) {
        fmt::print("{}\n", strata::handle(front.error()));
        stop(*storage);
        return 1;
    }
    auto stub = fleet::Front::NewStub(
        grpc::CreateChannel(fmt::format("127.0.0.1:{}", front->port), grpc::InsecureChannelCredentials()));
    int failures = 0;
    for (int cart = 1; cart <= 4; ++cart) {
        fleet::CartRequest req;
        req.set_cart(cart);
        fleet::CartReply reply;
        grpc::ClientContext ctx;
        const strata::result<void> r = strata::grpc_call(
            ctx, [&](grpc::ClientContext& c) { return stub->ShowCart(&c, req, &reply); }, {.operation = "front.ShowCart"});
        if (r) {
            fmt::print("cart {}: {} items\n", cart, reply.items_size());
            continue;
        }
        ++failures;
        const strata::report rep = strata::handle(r.error());
        fmt::print("cart {}: {}\n", cart, rep);
    }
    stop(*front);
    stop(*storage);
    return failures == 3 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (argc == 2 && mode == "--storage") {
        storage_service svc;
        return serve(&svc);
    }
    if (argc == 3 && mode == "--front") {
        front_service svc(std::string("127.0.0.1:") + argv[2]);
        return serve(&svc);
    }
    if (argc != 1) {
        std::fprintf(stderr, "usage: fleet_grpc\n");
        return 2;
    }
    // The services are this same program: /proc/self/exe finds it wherever it was run from.
    return run_user("/proc/self/exe");
}
