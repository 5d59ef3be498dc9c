/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Rust test binaries under wine 8.0.
 *
 * Rust >= 1.78's std gets its random seeds from ProcessPrng in bcryptprimitives.dll. Wine added
 * that export in 8.13; Debian's wine 8.0 lacks it, so every Rust program dies at start. This DLL
 * exports ProcessPrng and forwards to RtlGenRandom (advapi32's SystemFunction036), which wine 8.0
 * has. CI builds it with x86_64-w64-mingw32-gcc and copies it into the wine prefix's system32.
 * It is test scaffolding only: never shipped, never used on real Windows.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng(pbData, cbData): fills the buffer with random bytes; documented to always
 * return TRUE. Fill in chunks so a size_t length never truncates to ULONG. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
