// `zoo data prepare NAME`: turns a fetched raw corpus (scripts/fetch_data.sh NAME) into the
// data formats the trainers read, under DATA_ROOT/NAME/, and prints the sizes of each set.
#pragma once

#include <string>
#include <vector>

namespace zoo::datasets {

// The corpora prepare_corpus knows, in the order `zoo data prepare --help` lists them.
std::vector<std::string> preparable_corpora();

// Prepares corpus `name` from DATA_ROOT/NAME/raw (fetch_data.sh copies the Debian word list
// there too) and prints one line of sizes per file written. An unknown name or a corpus not
// fetched yet is a UserError saying which command fetches it.
void prepare_corpus(const std::string& name, const std::string& data_root);

}  // namespace zoo::datasets
