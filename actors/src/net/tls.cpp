// TLS file checks (CAF 0.17 terminates the process on a bad key at the first handshake, so every file is
// parsed here first) and peer address parsing.
#include <cstdio>
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "meshos/node.hpp"
#include "net/openssl_error.hpp"

namespace meshos {

namespace {

SdkError invalid_tls(const std::string& what, const std::string& path, const std::string& why) {
  return SdkError{"invalid_tls", what + " '" + path + "': " + why};
}

std::string openssl_reason() { return net::take_openssl_error("not a PEM file of the expected kind"); }

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> open_pem(const std::string& what, const std::string& path) {
  if (path.empty()) return SdkError{"invalid_tls", what + " is not set (TLS needs certificate, key and CA file)"};
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return invalid_tls(what, path, "cannot be opened for reading");
  return f;
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Result<X509Ptr> read_certificate(const std::string& what, const std::string& path) {
  auto f = open_pem(what, path);
  if (!f) return f.error();
  ERR_clear_error();
  X509Ptr cert(PEM_read_X509(f->get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return invalid_tls(what, path, openssl_reason());
  return cert;
}

}  // namespace

Result<void> TlsOptions::validate() const {
  auto cert = read_certificate("certificate", certificate);
  if (!cert) return cert.error();
  auto ca = read_certificate("CA file", ca_file);
  if (!ca) return ca.error();

  auto key_file = open_pem("key", key);
  if (!key_file) return key_file.error();
  ERR_clear_error();
  // With no callback, OpenSSL takes the user argument as the passphrase; an empty one must not be offered
  // (an encrypted key then fails to parse instead of prompting on a terminal).
  std::string pass = passphrase;
  KeyPtr pkey(PEM_read_PrivateKey(key_file->get(), nullptr, nullptr, pass.empty() ? nullptr : pass.data()),
              EVP_PKEY_free);
  if (!pkey) return invalid_tls("key", key, openssl_reason() + " (wrong passphrase?)");
  if (X509_check_private_key(cert->get(), pkey.get()) != 1) {
    ERR_clear_error();
    return invalid_tls("key", key, "does not match the certificate '" + certificate + "'");
  }
  return {};
}

Result<PeerAddress> PeerAddress::parse(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return SdkError{"invalid_address", "peer address '" + text + "': " + why + " (expected host:port)"};
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return bad("empty host");
  if (port_text.empty() || port_text.size() > 5) return bad("bad port");
  unsigned long port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return bad("bad port");
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port == 0 || port > 65535) return bad("port out of range 1..65535");
  PeerAddress a;
  a.host = std::move(host);
  a.port = static_cast<std::uint16_t>(port);
  return a;
}

}  // namespace meshos
