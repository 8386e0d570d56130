// The Probe service for a client in another language (tests/grpc/python_client.py):
// prints its port, then serves until its stdin closes. Records go to stderr.
#include "probe_service.hpp"

#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    const bool trusted = argc > 1 && std::string(argv[1]) == "--trusted";
    probe::service svc(trusted);
    probe::server s(&svc);
    if (!s.srv || s.port == 0) {
        std::fprintf(stderr, "probe_server: could not listen on 127.0.0.1\n");
        return 1;
    }
    std::printf("%d\n", s.port);
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
}
