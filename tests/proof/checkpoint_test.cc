#include "core/proof/checkpoint.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/proof/key_file.h"
#include "core/proof/merkle.h"
#include "core/proof/note.h"
#include "tests/proof/test_data.h"

namespace consentd::proof {
namespace {

using testing::LoadJson;

TEST(SignedNote, PublishedC2spExampleVerifies) {
  auto v = LoadJson("tlog/c2sp_signed_note_vectors.json")["signed_note_example"];
  Result<NoteVerifier> verifier = NoteVerifier::FromVerifierKey(v["vkey"].get<std::string>());
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ(verifier->name(), "example.com/foo");
  EXPECT_EQ(verifier->key_id(), 0x530d903aU);
  Result<std::string> text = OpenNote(v["full_note"].get<std::string>(), *verifier);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, v["note_text"].get<std::string>());
}

TEST(SignedNote, AlteredTextOrSignatureIsRejected) {
  auto v = LoadJson("tlog/c2sp_signed_note_vectors.json")["signed_note_example"];
  NoteVerifier verifier = *NoteVerifier::FromVerifierKey(v["vkey"].get<std::string>());
  std::string note = v["full_note"];
  std::string altered_text = note;
  altered_text[0] = 't';
  EXPECT_EQ(OpenNote(altered_text, verifier).status().code(), StatusCode::kUnauthenticated);
  Result<Note> parsed = ParseNote(note);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(FormatNote(*parsed), note);
  parsed->signatures[0].signature[10] ^= 1;
  EXPECT_FALSE(OpenNote(FormatNote(*parsed), verifier).ok());
}

TEST(SignedNote, VerifierKeyWithWrongKeyIdIsRefused) {
  auto v = LoadJson("tlog/c2sp_signed_note_vectors.json")["signed_note_example"];
  std::string vkey = v["vkey"];
  vkey.replace(vkey.find("530d903a"), 8, "530d903b");
  EXPECT_FALSE(NoteVerifier::FromVerifierKey(vkey).ok());
}

TEST(SignedNote, MalformedNotesAreRejected) {
  EXPECT_FALSE(ParseNote("no blank line\n").ok());
  EXPECT_FALSE(ParseNote("text\n\n").ok());
  EXPECT_FALSE(ParseNote("text\n\n- name AAAAAAA=\n").ok());
  EXPECT_FALSE(ParseNote("te\x01xt\n\n\xe2\x80\x94 name AAAAAAAA\n").ok());
}

TEST(Checkpoint, PublishedExampleParses) {
  auto v = LoadJson("tlog/c2sp_signed_note_vectors.json")["checkpoint_example_format_only"];
  Result<Note> note = ParseNote(v["text"].get<std::string>());
  ASSERT_TRUE(note.ok());
  Result<Checkpoint> c = ParseCheckpointText(note->text);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(c->size, 20852163U);
  EXPECT_EQ(CheckpointText(*c), note->text);
}

TEST(Checkpoint, BadBodiesAreRejected) {
  std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  EXPECT_TRUE(ParseCheckpointText("log\n12\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpointText("log\n012\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpointText("log\n-1\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpointText("log\n12\nAAAA\n").ok());
  EXPECT_FALSE(ParseCheckpointText("\n12\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpointText("log\n12\n" + root).ok());
}

TEST(Checkpoint, SignedByOurKeyVerifiesOnlyWithThatKey) {
  NoteSigner signer = *NoteSigner::Generate("consentd.example/log");
  NoteSigner other = *NoteSigner::Generate("consentd.example/log");
  Checkpoint c{"consentd.example/log", 5, HashLeaf("x"), {}};
  Result<std::string> note = SignCheckpoint(c, signer);
  ASSERT_TRUE(note.ok());
  NoteVerifier verifier = *NoteVerifier::FromVerifierKey(signer.VerifierKey());
  EXPECT_EQ(*OpenCheckpoint(*note, verifier), c);
  NoteVerifier wrong = *NoteVerifier::FromVerifierKey(other.VerifierKey());
  EXPECT_EQ(OpenCheckpoint(*note, wrong).status().code(), StatusCode::kUnauthenticated);
  // A forged size under the same signature fails.
  std::string forged = *note;
  forged.replace(forged.find("\n5\n"), 3, "\n6\n");
  EXPECT_FALSE(OpenCheckpoint(forged, verifier).ok());
}

// 32 random keys: most base64 keys contain a '+', which must not be taken
// for a field separator.
TEST(Checkpoint, KeyStringsRoundTripEvenWithPlusInBase64) {
  for (int i = 0; i < 32; ++i) {
    NoteSigner signer = *NoteSigner::Generate("log.example");
    Result<NoteSigner> again = NoteSigner::FromPrivateKey(signer.PrivateKeyString());
    ASSERT_TRUE(again.ok()) << signer.PrivateKeyString();
    EXPECT_EQ(again->VerifierKey(), signer.VerifierKey());
    EXPECT_EQ(signer.PrivateKeyString().rfind("PRIVATE+KEY+log.example+", 0), 0U);
    Result<NoteVerifier> verifier = NoteVerifier::FromVerifierKey(signer.VerifierKey());
    ASSERT_TRUE(verifier.ok()) << signer.VerifierKey();
    EXPECT_EQ(verifier->key_id(), signer.key_id());
  }
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("proof_key_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path() const { return (dir_ / "signing.key").string(); }
  std::filesystem::path dir_;
};

TEST_F(KeyFileTest, CreatedOnFirstUseWithMode0600AndReloaded) {
  Result<NoteSigner> first = LoadOrCreateSigningKey(Path(), "log.example");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  Result<NoteSigner> second = LoadOrCreateSigningKey(Path(), "log.example");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->VerifierKey(), first->VerifierKey());
}

TEST_F(KeyFileTest, KeyWithAnotherNameIsRefused) {
  ASSERT_TRUE(LoadOrCreateSigningKey(Path(), "log.example").ok());
  EXPECT_EQ(LoadOrCreateSigningKey(Path(), "other.example").status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(KeyFileTest, WorldReadableKeyIsRefused) {
  ASSERT_TRUE(LoadOrCreateSigningKey(Path(), "log.example").ok());
  ::chmod(Path().c_str(), 0644);
  EXPECT_EQ(LoadSigningKey(Path()).status().code(), StatusCode::kPermissionDenied);
}

// Once the log has a checkpoint, only the key that signed it is used: a
// missing key file is not replaced by a new key under the same name (after
// which no key would verify the whole log), and another key is refused.
TEST_F(KeyFileTest, ALogWithACheckpointTakesOnlyTheKeyThatSignedIt) {
  Result<NoteSigner> original = LoadSigningKeyForLog(Path(), "log.example", std::nullopt);
  ASSERT_TRUE(original.ok()) << original.status().ToString();  // no checkpoint yet: created
  Result<std::string> checkpoint = SignNote("log.example\n1\nAAAA\n", *original);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_TRUE(LoadSigningKeyForLog(Path(), "log.example", *checkpoint).ok());

  std::filesystem::remove(Path());  // a restore without the key file
  Result<NoteSigner> missing = LoadSigningKeyForLog(Path(), "log.example", *checkpoint);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos)
      << missing.status().message();
  EXPECT_NE(missing.status().message().find("'log.example'"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(Path())) << "no new key may be made";

  ASSERT_TRUE(LoadOrCreateSigningKey(Path(), "log.example").ok());  // another key, same name
  Result<NoteSigner> other = LoadSigningKeyForLog(Path(), "log.example", *checkpoint);
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("did not sign"), std::string::npos)
      << other.status().message();
}

TEST_F(KeyFileTest, MissingKeyIsNotFoundWhenNotCreating) {
  EXPECT_EQ(LoadSigningKey(Path()).status().code(), StatusCode::kNotFound);
}

struct SignedLog {
  InMemoryTree tree;
  std::vector<std::string> entries;
  NoteSigner signer = *NoteSigner::Generate("consentd.test/log");
  std::string checkpoint;

  explicit SignedLog(int n) {
    for (int i = 0; i < n; ++i) {
      entries.push_back("{\"entry\":" + std::to_string(i) + "}");
      tree.Append(HashLeaf(entries.back()));
    }
    checkpoint = *SignCheckpoint({signer.name(), tree.size(), tree.Root(), {}}, signer);
  }
  std::string Bundle(std::uint64_t index) const {
    return FormatTlogProof(
        {entries[index], index, *InclusionProof(tree, index, tree.size()), checkpoint});
  }
};

TEST(TlogProof, BundleForEveryEntryVerifiesOffline) {
  SignedLog log(11);
  NoteVerifier verifier = *NoteVerifier::FromVerifierKey(log.signer.VerifierKey());
  for (std::uint64_t i = 0; i < 11; ++i) {
    std::string bundle = log.Bundle(i);
    EXPECT_EQ(bundle.rfind("c2sp.org/tlog-proof@v1\nextra ", 0), 0U);
    Result<VerifiedTlogProof> v = VerifyTlogProof(bundle, verifier);
    ASSERT_TRUE(v.ok()) << i << ": " << v.status().ToString();
    EXPECT_EQ(v->entry, log.entries[i]);
    EXPECT_EQ(v->checkpoint.size, 11U);
    Result<TlogProof> parsed = ParseTlogProof(bundle);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(FormatTlogProof(*parsed), bundle);
  }
}

TEST(TlogProof, WrongEntryIndexOrKeyIsRejected) {
  SignedLog log(6);
  NoteVerifier verifier = *NoteVerifier::FromVerifierKey(log.signer.VerifierKey());
  std::string bundle = log.Bundle(3);
  EXPECT_EQ(VerifyTlogProof(bundle, verifier, log.entries[2]).status().code(),
            StatusCode::kDataLoss);
  std::string moved = bundle;
  moved.replace(moved.find("index 3"), 7, "index 2");
  EXPECT_FALSE(VerifyTlogProof(moved, verifier).ok());
  NoteSigner other = *NoteSigner::Generate("consentd.test/log");
  NoteVerifier wrong = *NoteVerifier::FromVerifierKey(other.VerifierKey());
  EXPECT_EQ(VerifyTlogProof(bundle, wrong).status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(ParseTlogProof("c2sp.org/tlog-proof@v1\nindex 01\n\n" + log.checkpoint).ok());
}

}  // namespace
}  // namespace consentd::proof
