/* A tiny relocatable ELF with a .modinfo section, so `modinfo` can read a module signature.
   Build: gcc -c -O0 -fno-asynchronous-unwind-tables -o dummy.ko dummy.c && strip -g dummy.ko */
__attribute__((section(".modinfo"), used)) static const char license[] = "license=GPL";
__attribute__((section(".modinfo"), used)) static const char name[] = "name=dummy";
__attribute__((section(".modinfo"), used)) static const char vermagic[] = "vermagic=6.1.0 SMP mod_unload";
__attribute__((section(".modinfo"), used)) static const char description[] = "description=signerd test fixture";
int dummy_init(void) { return 0; }
