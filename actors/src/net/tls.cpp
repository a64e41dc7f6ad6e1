// TLS file checks (CAF 0.17 terminates the process on a bad key at the first handshake, so every file is
// parsed here first) and peer address parsing.
#include <cstdio>
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "meshos/node.hpp"
#include "net/certificate.hpp"
#include "net/openssl_error.hpp"

namespace meshos {

namespace {

SdkError invalid_tls(const std::string& what, const std::string& path, const std::string& why) {
  return SdkError{Errc::invalid_tls, what + " '" + path + "': " + why};
}

std::string openssl_reason() { return net::take_openssl_error("not a PEM file of the expected kind"); }

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> open_pem(const std::string& what, const std::string& path) {
  if (path.empty()) return SdkError{Errc::invalid_tls, what + " is not set (TLS needs certificate, key and CA file)"};
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

std::string node_certificate_uri(NodeId id) { return std::string(kNodeCertificateUriPrefix) + to_hex(id); }

namespace net {

Result<std::optional<NodeId>> node_id_in_certificate(X509* cert) {
  using Names = std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)>;
  Names names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)),
              GENERAL_NAMES_free);
  ERR_clear_error();  // no subjectAltName at all leaves an entry behind
  std::optional<NodeId> found;
  if (!names) return found;
  const std::string prefix = kNodeCertificateUriPrefix;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    const std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                           static_cast<std::size_t>(ASN1_STRING_length(uri)));
    if (text.compare(0, prefix.size(), prefix) != 0) continue;
    NodeId id = 0;
    const std::string digits = text.substr(prefix.size());
    if (digits.size() != 16 || !parse_hex_u64(digits, id) || id == 0)
      return SdkError{Errc::invalid_tls, "certificate names a node as '" + text + "' (expected " + prefix +
                                         "<16 hex digits>)"};
    if (found && *found != id)
      return SdkError{Errc::invalid_tls, "certificate names two nodes, " + to_hex(*found) + " and " + to_hex(id)};
    found = id;
  }
  return found;
}

Result<void> require_certificate_names(X509* cert, const std::string& path, NodeId expected) {
  auto named = node_id_in_certificate(cert);
  if (!named) return SdkError{Errc::invalid_tls, "certificate '" + path + "': " + named.error().message};
  if (!*named)
    return SdkError{Errc::invalid_tls, "certificate '" + path + "' names no node: a node's certificate needs the "
                                   "subjectAltName URI " + node_certificate_uri(expected)};
  if (**named != expected)
    return SdkError{Errc::invalid_tls, "certificate '" + path + "' names node " + to_hex(**named) + ", not this node " +
                                       to_hex(expected)};
  return {};
}

}  // namespace net

Result<PeerAddress> PeerAddress::parse(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return SdkError{Errc::invalid_address, "peer address '" + text + "': " + why + " (expected host:port)"};
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
