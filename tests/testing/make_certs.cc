// certinbox-make-certs DIR COUNT PREFIX: writes COUNT new self-signed leaf certificates, each
// with its key, to DIR/PREFIX-N.pem (N from 0), made by the test CA in a few milliseconds in
// all. For scripts that need many real files (scripts/kill_cycles.sh).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "tests/testing/test_ca.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: certinbox-make-certs DIR COUNT PREFIX\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int count = std::atoi(argv[2]);
  const std::string prefix = argv[3];
  for (int i = 0; i < count; ++i) {
    const std::string name = prefix + "-" + std::to_string(i);
    auto leaf = certinbox::testing::Issue(certinbox::testing::LeafSpec(name + ".kill.test"));
    std::ofstream out(dir / (name + ".pem"), std::ios::binary | std::ios::trunc);
    out << leaf.CertPem() << leaf.KeyPem();
    if (!out.flush()) {
      std::cerr << "cannot write " << (dir / (name + ".pem")) << "\n";
      return 1;
    }
  }
  return 0;
}
