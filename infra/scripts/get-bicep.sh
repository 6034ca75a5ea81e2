#!/usr/bin/env bash
# Restores the Bicep CLI from NuGet (package Azure.Bicep.CommandLine.linux-x64, which carries the
# `bicep` executable) into .tools/bicep/ at the repository root and prints the executable's path.
# Idempotent: a second run finds the restored executable and does nothing else.
# Without dotnet it prints why and exits 0: the infra tests then skip their compile and lint
# checks with a printed reason instead of failing.
#
# Usage: infra/scripts/get-bicep.sh            (prints the path of `bicep` on stdout)
# Env:   BICEP_VERSION (default below), BICEP_TOOLS_DIR (default <repo>/.tools/bicep)
set -euo pipefail

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
PACKAGE="azure.bicep.commandline.linux-x64"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools_dir="${BICEP_TOOLS_DIR:-$repo_root/.tools/bicep}"
# The executable lives under tools/ in the package; .tools/bicep/bicep links to it so that tests
# and people have one stable path whatever the version.
restored="$tools_dir/packages/$PACKAGE/$BICEP_VERSION/tools/bicep"
bicep="$tools_dir/bicep"

if [[ -x "$restored" && "$(readlink "$bicep" 2>/dev/null)" == "$restored" ]]; then
  echo "$bicep"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *)
    echo "get-bicep: the NuGet package $PACKAGE only runs on Linux x64; skipping (infra tests will use BICEP_PATH, bicep on PATH or az bicep if present)." >&2
    exit 0
    ;;
esac

if ! command -v dotnet >/dev/null 2>&1; then
  echo "get-bicep: dotnet not found; Bicep CLI not restored (infra tests will skip compiling and linting infra/main.bicep unless BICEP_PATH, bicep on PATH or az bicep is available)." >&2
  exit 0
fi

# A restore-only project: PackageDownload fetches the package into the packages folder without
# referencing it from any build. Generated in a temporary directory so nothing lands in the repo
# but the restored package.
project_dir="$(mktemp -d)"
trap 'rm -rf "$project_dir"' EXIT
cat >"$project_dir/get-bicep.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>netstandard2.0</TargetFramework>
    <DisableImplicitNuGetFallbackFolder>true</DisableImplicitNuGetFallbackFolder>
    <!-- Only the Bicep package: no NETStandard.Library download. -->
    <DisableImplicitFrameworkReferences>true</DisableImplicitFrameworkReferences>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
CSPROJ

mkdir -p "$tools_dir"
echo "get-bicep: restoring Azure.Bicep.CommandLine.linux-x64 $BICEP_VERSION into $tools_dir" >&2
DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
  dotnet restore "$project_dir/get-bicep.csproj" --packages "$tools_dir/packages" >&2

if [[ ! -f "$restored" ]]; then
  echo "get-bicep: restore finished but $restored is missing" >&2
  exit 1
fi
# NuGet does not keep the executable bit.
chmod +x "$restored"
ln -sfn "$restored" "$bicep"
"$bicep" --version >&2
echo "$bicep"
