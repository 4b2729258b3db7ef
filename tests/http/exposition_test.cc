// The text exposition format: escaping of label values and HELP text, families and samples.
#include "http/exposition.h"

#include <gtest/gtest.h>

#include "pipeline/x509_labels.h"
#include "tests/testing/test_ca.h"

namespace certinbox::http {
namespace {

TEST(ExpositionTest, LabelValuesAreEscaped) {
  struct Case {
    std::string in, out;
  };
  for (const Case& c : std::vector<Case>{
           {"plain", "plain"},
           {"a\"b", "a\\\"b"},
           {"back\\slash", "back\\\\slash"},
           {"line\nfeed", "line\\nfeed"},
           {"caf\xC3\xA9", "caf\xC3\xA9"},            // UTF-8 stays
           {"bad\xFFu", "bad\xEF\xBF\xBDu"},          // not UTF-8: U+FFFD
           {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},  // overlong
       }) {
    EXPECT_EQ(EscapeLabelValue(c.in), c.out) << c.in;
  }
}

TEST(ExpositionTest, FamiliesAndSamples) {
  Exposition out;
  out.Family("x_total", "counter", "Line\none \\ two");
  out.Sample("x_total", {{"a", "1"}, {"b", "q\""}}, int64_t{42});
  out.Sample("x_total", {}, 0.5);
  EXPECT_EQ(out.text(),
            "# HELP x_total Line\\none \\\\ two\n# TYPE x_total counter\n"
            "x_total{a=\"1\",b=\"q\\\"\"} 42\nx_total 0.5\n");
}

TEST(ExpositionTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Histogram histogram({0.1, 1});
  for (double value : {0.05, 0.1, 0.5, 2.0}) histogram.Observe(value);
  Exposition out;
  out.WriteHistogram("d_seconds", "Durations", histogram);
  EXPECT_EQ(out.text(),
            "# HELP d_seconds Durations\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"0.1\"} 2\nd_seconds_bucket{le=\"1\"} 3\n"
            "d_seconds_bucket{le=\"+Inf\"} 4\nd_seconds_sum 2.65\nd_seconds_count 4\n");
}

TEST(ExporterNamesTest, FieldsAndDecimalSerialFromTheDer) {
  testing::CertSpec ca_spec = testing::CaSpec("Names CA");
  ca_spec.organization = "Org, Inc.";
  testing::Issued ca = testing::Issue(ca_spec);
  testing::CertSpec spec = testing::LeafSpec("leaf.names.test");
  spec.serial = 18446744073709551615ULL;
  testing::Issued leaf = testing::Issue(spec, &ca);
  auto names = pipeline::ReadExporterNames(leaf.CertDer());
  ASSERT_TRUE(names);
  EXPECT_EQ(names->serial_decimal, "18446744073709551615");
  EXPECT_EQ(names->subject.cn, "leaf.names.test");
  EXPECT_EQ(names->subject.o, "");
  EXPECT_EQ(names->issuer.cn, "Names CA");
  EXPECT_EQ(names->issuer.o, "Org, Inc.");  // not split at the comma, as RFC 2253 text would be
  EXPECT_FALSE(pipeline::ReadExporterNames("not a certificate"));
  EXPECT_FALSE(pipeline::ReadExporterNames(leaf.CertDer() + "x"));
}

}  // namespace
}  // namespace certinbox::http
