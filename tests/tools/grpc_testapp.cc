// strait-grpc-testapp: a gRPC peer for end-to-end tests of gRPC through the mesh (testapp.proto,
// plaintext h2c; the mesh adds mTLS). Two modes:
//   server --listen IP:PORT --name NAME [--delay-ms N] [--port-file PATH]
//   client --target IP:PORT --calls N [--stream-count K] [--deadline-ms D] [--message TEXT]
// Addresses are numeric IPv4 only: the client dials "ipv4:IP:PORT", so no name is ever resolved,
// and ignores any HTTP proxy in the environment.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "testapp.grpc.pb.h"

namespace {

using strait::testapp::v1::Echo;
using strait::testapp::v1::EchoReply;
using strait::testapp::v1::EchoRequest;
using Flags = std::map<std::string, std::string>;

const char kUsage[] =
    "usage: strait-grpc-testapp MODE [flags]\n"
    "  server --listen IP:PORT --name NAME [--delay-ms N] [--port-file PATH]\n"
    "         Echo.Unary: the message back, served_by NAME, trailer x-served-by: NAME;\n"
    "         message \"fail\" -> INVALID_ARGUMENT \"asked to fail\". Echo.ServerStream: count\n"
    "         replies (index 0..count-1) 10 ms apart. --delay-ms sleeps before each answer;\n"
    "         --port-file writes the bound port (use with --listen IP:0)\n"
    "  client --target IP:PORT --calls N [--stream-count K] [--deadline-ms D (5000)]\n"
    "         [--message TEXT (hello)]\n"
    "         one channel: N sequential Unary calls, then a \"fail\" call, then (K > 0) one\n"
    "         ServerStream call of K; prints \"served_by NAME COUNT\" per server, \"errors E\",\n"
    "         \"trailers_missing T\", \"fail_status CODE MESSAGE\", \"stream_replies R\",\n"
    "         \"stream_status CODE\"; every call has deadline D ms\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "strait-grpc-testapp: " << msg << "\n" << kUsage;
  std::exit(2);
}

Flags parse_flags(int argc, char** argv, const std::set<std::string>& known) {
  Flags f;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (!known.count(k)) usage_error("unknown flag " + k);
    if (i + 1 >= argc) usage_error(k + " needs a value");
    f[k] = argv[++i];
  }
  return f;
}

std::string need(const Flags& f, const std::string& k) {
  auto it = f.find(k);
  if (it == f.end() || it->second.empty()) usage_error("missing " + k);
  return it->second;
}

int number(const Flags& f, const std::string& k, int fallback, int min) {
  auto it = f.find(k);
  if (it == f.end()) return fallback;
  char* end = nullptr;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end || v < min || v > 1000000000) usage_error("bad " + k);
  return static_cast<int>(v);
}

// "IP:PORT" with a numeric IPv4 address (never a name: nothing gets resolved).
std::string ipv4_address(const Flags& f, const std::string& k) {
  const std::string s = need(f, k);
  const auto colon = s.rfind(':');
  in_addr a{};
  if (colon == std::string::npos || ::inet_pton(AF_INET, s.substr(0, colon).c_str(), &a) != 1)
    usage_error("bad " + k + " " + s + " (want IPv4:PORT)");
  char* end = nullptr;
  long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (colon + 1 == s.size() || *end || port < 0 || port > 65535) usage_error("bad port in " + s);
  return s;
}

class EchoService final : public Echo::Service {
 public:
  EchoService(std::string name, int delay_ms) : name_(std::move(name)), delay_ms_(delay_ms) {}

  grpc::Status Unary(grpc::ServerContext* ctx, const EchoRequest* req, EchoReply* reply) override {
    delay();
    ctx->AddTrailingMetadata("x-served-by", name_);
    if (req->message() == "fail")
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "asked to fail");
    reply->set_message(req->message());
    reply->set_served_by(name_);
    return grpc::Status::OK;
  }

  grpc::Status ServerStream(grpc::ServerContext* ctx, const EchoRequest* req,
                            grpc::ServerWriter<EchoReply>* writer) override {
    delay();
    ctx->AddTrailingMetadata("x-served-by", name_);
    for (int i = 0; i < req->count(); ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      EchoReply reply;
      reply.set_message(req->message());
      reply.set_served_by(name_);
      reply.set_index(i);
      if (!writer->Write(reply)) return grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
    }
    return grpc::Status::OK;
  }

 private:
  void delay() const {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
  }

  const std::string name_;
  const int delay_ms_;
};

int run_server(const Flags& f) {
  const std::string listen = ipv4_address(f, "--listen");
  EchoService service(need(f, "--name"), number(f, "--delay-ms", 0, 0));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "strait-grpc-testapp: cannot listen on " << listen << "\n";
    return 1;
  }
  if (auto pf = f.find("--port-file"); pf != f.end()) {
    const std::string tmp = pf->second + ".tmp";
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.close();
    if (!out || std::rename(tmp.c_str(), pf->second.c_str()) != 0) {
      std::cerr << "strait-grpc-testapp: cannot write " << pf->second << "\n";
      return 1;
    }
  }
  std::cout << "listening " << listen.substr(0, listen.rfind(':')) << ":" << port << std::endl;
  server->Wait();
  return 0;
}

int run_client(const Flags& f) {
  const std::string target = ipv4_address(f, "--target");
  const int calls = number(f, "--calls", -1, 0);
  if (calls < 0) usage_error("missing --calls");
  const int stream_count = number(f, "--stream-count", 0, 0);
  const int deadline_ms = number(f, "--deadline-ms", 5000, 1);
  const std::string message = f.count("--message") ? f.at("--message") : "hello";

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);  // never via an http_proxy from the environment
  auto channel =
      grpc::CreateCustomChannel("ipv4:" + target, grpc::InsecureChannelCredentials(), args);
  auto stub = Echo::NewStub(channel);
  auto with_deadline = [&](grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  };

  std::map<std::string, int> served;
  int errors = 0;
  int trailers_missing = 0;
  for (int i = 0; i < calls; ++i) {
    grpc::ClientContext ctx;
    with_deadline(ctx);
    EchoRequest req;
    req.set_message(message);
    EchoReply reply;
    grpc::Status s = stub->Unary(&ctx, req, &reply);
    if (!s.ok()) {
      if (errors++ == 0) {
        std::cerr << "first error (call " << i << "): " << s.error_code() << " "
                  << s.error_message() << "\n";
      }
      continue;
    }
    ++served[reply.served_by()];
    const auto& trailers = ctx.GetServerTrailingMetadata();
    auto t = trailers.find("x-served-by");
    if (t == trailers.end() || std::string(t->second.data(), t->second.size()) != reply.served_by())
      ++trailers_missing;
  }
  for (const auto& [name, n] : served) std::cout << "served_by " << name << " " << n << "\n";
  std::cout << "errors " << errors << "\n";
  std::cout << "trailers_missing " << trailers_missing << "\n";

  {
    grpc::ClientContext ctx;
    with_deadline(ctx);
    EchoRequest req;
    req.set_message("fail");
    EchoReply reply;
    grpc::Status s = stub->Unary(&ctx, req, &reply);
    std::cout << "fail_status " << s.error_code() << " " << s.error_message() << "\n";
  }

  if (stream_count > 0) {
    grpc::ClientContext ctx;
    with_deadline(ctx);
    EchoRequest req;
    req.set_message(message);
    req.set_count(stream_count);
    auto reader = stub->ServerStream(&ctx, req);
    EchoReply reply;
    int replies = 0;
    while (reader->Read(&reply)) {
      if (reply.index() != replies)
        std::cerr << "stream reply " << replies << " has index " << reply.index() << "\n";
      ++replies;
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) std::cerr << "stream: " << s.error_code() << " " << s.error_message() << "\n";
    std::cout << "stream_replies " << replies << "\n";
    std::cout << "stream_status " << s.error_code() << "\n";
  }
  std::cout << std::flush;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage_error("missing MODE");
  const std::string mode = argv[1];
  if (mode == "server") {
    return run_server(parse_flags(argc, argv, {"--listen", "--name", "--delay-ms", "--port-file"}));
  }
  if (mode == "client") {
    return run_client(parse_flags(
        argc, argv, {"--target", "--calls", "--stream-count", "--deadline-ms", "--message"}));
  }
  usage_error("unknown mode " + mode);
}
