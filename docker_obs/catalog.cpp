#include "docker_obs/catalog.h"

namespace edge::docker {

namespace {

bool fail(std::string* error, std::string reason) {
  if (error != nullptr) *error = std::move(reason);
  return false;
}

}  // namespace

bool parse_service_catalog(const nlohmann::json& doc, ServiceCatalog* out, std::string* error) {
  if (!doc.is_object()) {
    return fail(error, std::string("service catalog must be a JSON object mapping service name to "
                                   "{\"image\", \"command\", \"env\"}, got ") +
                           doc.type_name());
  }
  ServiceCatalog parsed;
  for (const auto& [name, entry] : doc.items()) {
    const std::string where = "service catalog entry \"" + name + "\": ";
    if (name.empty()) return fail(error, "service catalog has an entry with an empty name");
    if (!entry.is_object()) {
      return fail(error, where + "must be an object, got " + entry.type_name());
    }
    ServiceSpec spec;
    auto image = entry.find("image");
    if (image == entry.end() || !image->is_string() ||
        image->get_ref<const std::string&>().empty()) {
      return fail(error, where + "\"image\" must be a non-empty string");
    }
    spec.image = image->get<std::string>();

    if (auto command = entry.find("command"); command != entry.end() && !command->is_null()) {
      if (!command->is_array()) {
        return fail(error, where + "\"command\" must be an array of strings");
      }
      for (const auto& arg : *command) {
        if (!arg.is_string()) return fail(error, where + "\"command\" must be an array of strings");
        spec.command.push_back(arg.get<std::string>());
      }
    }

    if (auto env = entry.find("env"); env != entry.end() && !env->is_null()) {
      if (!env->is_object()) {
        return fail(error, where + "\"env\" must be an object of string to string");
      }
      for (const auto& [key, value] : env->items()) {
        if (key.empty() || key.find('=') != std::string::npos) {
          return fail(error, where + "\"env\" key \"" + key + "\" is not a variable name");
        }
        if (!value.is_string()) {
          return fail(error, where + "\"env\" value of \"" + key + "\" must be a string");
        }
        spec.env.emplace(key, value.get<std::string>());
      }
    }
    parsed.emplace(name, std::move(spec));
  }
  if (out != nullptr) *out = std::move(parsed);
  return true;
}

}  // namespace edge::docker
